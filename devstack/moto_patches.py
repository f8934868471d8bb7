"""Make moto's DynamoDB safe under concurrent clients and its transactions cheap.

moto's server is threaded but its DynamoDB backend has no locking: two transactions at
once interleave their condition checks and writes, and a failed one "rolls back" over the
other's writes. The local stack runs several pump workers, so every DynamoDB call is
serialised here, as DynamoDB's own item-level atomicity would make them appear.

moto 5.2 deep-copies every table a transaction touches, once per item, to roll back on
failure: a 100-item transaction on a table of 50,000 items copies it 100 times, and the
local stack and the test suite slow down as their tables grow. This keeps moto's own
transaction logic and replaces only the rollback: it snapshots the touched items and
restores them if the transaction fails. Local development and tests only; deployed code
talks to DynamoDB.

The rest makes moto's server cheaper per request without changing any answer (each is
checked against stock moto in tests/devstack/test_moto_patches_fast.py): DynamoDB attribute
values serialised directly instead of by walking botocore's shapes member by member; the
update-expression validator's per-node type checks cached and its clause count done once
per expression instead of once per nested node; a Query reading only the partition it
names (moto sorts the whole table for every Query); SQS queue attributes computed once per
GetQueueAttributes instead of twice per name asked; and the per-request directory listing,
method listing and name conversions cached.
"""
from __future__ import annotations

import copy
import threading
import types
from typing import Any

_installed = False
_lock = threading.RLock()
_EMPTY = "\0moto-patches-empty-name\0"  # stands in for "" while moto serialises a map


def install() -> None:
    """Patch moto in this process (the local moto server, or the tests' in-process mock)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb import models
    from moto.dynamodb.models.table import Table

    def _deepcopy(value: Any, memo: Any = None) -> Any:
        # The transaction's table "backup" becomes the live table; rollback is done below.
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    models.copy = types.SimpleNamespace(deepcopy=_deepcopy)  # type: ignore[assignment]
    original = models.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        touched: list[tuple[str, dict[str, Any], Any]] = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table_name = op.get("TableName")
            if table_name not in self.tables:
                continue
            table = self.tables[table_name]
            if "Key" in op:
                key = op["Key"]
            else:
                key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
                if table.range_key_attr is not None:
                    key[table.range_key_attr] = op["Item"][table.range_key_attr]
            before = self.get_item(table_name, key)
            touched.append((table_name, key, copy.deepcopy(before.to_json()["Attributes"]) if before else None))
        try:
            original(self, transact_items)
        except Exception:
            for table_name, key, attributes in reversed(touched):
                if attributes is None:
                    if self.get_item(table_name, key) is not None:
                        self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]

    from moto.dynamodb.responses import DynamoHandler

    dispatch = DynamoHandler.call_action

    def serialised_call_action(self: Any) -> Any:
        with _lock:
            return dispatch(self)

    DynamoHandler.call_action = serialised_call_action  # type: ignore[method-assign]
    _return_empty_names()
    _fast_attribute_values()
    _fast_update_validation()
    _fast_queue_attributes()
    _cached_lookups()
    _partition_queries()
    _installed = True


def _return_empty_names() -> None:
    """moto stores an item with an empty attribute name or map key (``{"": 1}``; DynamoDB
    refuses them) but its JSON serialiser then writes that value's fields into the parent
    map, so every GetItem, Query or Scan returning the item fails in the client. Such items
    got in before the API validated names; this serialises them as stored, so the local
    stack can still read, snapshot and erase them."""
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize_type_map

    def _serialize_type_map(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if not isinstance(value, dict) or "" not in value:
            return original(self, serialized, value, shape, key)
        holder: dict[str, Any] = {}
        original(self, holder, {_EMPTY if k == "" else k: v for k, v in value.items()}, shape, "m")
        (result,) = holder.values()
        if _EMPTY in result:
            result[""] = result.pop(_EMPTY)
        self._default_serialize(serialized, result, shape, key)

    BaseJSONSerializer._serialize_type_map = _serialize_type_map  # type: ignore[method-assign]


class _NotPlain(Exception):
    """A value the fast path does not know: serialise it moto's own way."""


_MEMBER_ORDER = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")  # botocore's AttributeValue
_MEMBERS = frozenset(_MEMBER_ORDER)


def _as_string(value: Any) -> Any:
    """moto's JSON string serialisation (BaseJSONSerializer._serialize_type_string)."""
    if type(value) is str:
        return value
    from enum import Enum

    if isinstance(value, Enum):
        value = value.value
    return str(value) if value not in [None, {}, []] else value


def _attribute_value(value: Any, base64: Any) -> dict[str, Any]:
    """One DynamoDB AttributeValue (a plain ``{"S": ...}``-shaped dict from moto's
    ``dynamo_to_dict``) as moto's shape-walking serialiser writes it: members in the
    shape's order, ``None`` members left out, strings str()'d, binaries base64'd."""
    if type(value) is not dict or not _MEMBERS.issuperset(value):
        raise _NotPlain
    out: dict[str, Any] = {}
    for name in _MEMBER_ORDER if len(value) > 1 else value:
        member = value.get(name)
        if member is None:
            continue
        if name == "S" or name == "N":
            out[name] = _as_string(member)
        elif name == "M":
            if not hasattr(member, "items"):
                raise _NotPlain
            converted = {k: _attribute_value(v, base64) for k, v in member.items() if v is not None}
            if "" in converted:  # where moto_patches._return_empty_names puts it
                converted[""] = converted.pop("")
            out[name] = converted
        elif name == "L":
            out[name] = [None if v is None else _attribute_value(v, base64) for v in member]
        elif name == "SS" or name == "NS":
            out[name] = [_as_string(v) for v in member]
        elif name == "B":
            out[name] = base64(member)
        elif name == "BS":
            out[name] = [base64(v) for v in member]
        else:  # NULL, BOOL: booleans are written as they are
            out[name] = member
    return out


def _fast_attribute_values() -> None:
    """moto 5.2 serialises every response by walking botocore's output shape; for a DynamoDB
    item that means ten member look-ups (each through a chain of alias providers) per
    attribute, nested maps and lists included (a seventh of the moto server's CPU in the
    task benchmark, more for large items). An item is
    already in the wire shape, so each AttributeValue is written directly, exactly as the
    generic walk would write it; anything unexpected still takes the generic walk."""
    from moto.core.serialize import BaseJSONSerializer

    original = BaseJSONSerializer._serialize

    def _serialize(self: Any, serialized: Any, value: Any, shape: Any, key: str) -> None:
        if (shape.name == "AttributeValue" and key and value is not None
                and self.service_model.service_name == "dynamodb"
                and not getattr(self._value_picker, "response_transformers", None)):
            try:
                serialized[key] = _attribute_value(value, self._base64)
                return
            except _NotPlain:
                pass
        original(self, serialized, value, shape, key)

    BaseJSONSerializer._serialize = _serialize  # type: ignore[method-assign]


def _fast_update_validation() -> None:
    """moto validates an UpdateExpression with ten depth-first passes over its syntax tree;
    each node's ``isinstance`` checks go through ABCMeta (the nodes are abstract classes),
    and the action-count pass recounts every clause below each nested UpdateExpression
    node (quadratic in the number of actions). Same passes, same order, same errors: the
    type checks are cached per node class, and the clause counts are memoised per node."""
    import importlib

    from moto.dynamodb.exceptions import TooManyClauses

    ast_nodes: Any = importlib.import_module("moto.dynamodb.parsing.ast_nodes")  # untyped in moto
    validators: Any = importlib.import_module("moto.dynamodb.parsing.validators")

    Node = ast_nodes.Node

    is_node: dict[type, bool] = {}
    no_hook = ast_nodes.DepthFirstTraverser.pre_processing_of_child

    def traverse_node_recursively(self: Any, node: Any, child_id: int = -1) -> Any:
        cls = type(node)
        node_type = is_node.get(cls)
        if node_type is None:
            node_type = is_node[cls] = isinstance(node, Node)
        if node_type:
            parent_node = node.parent
            wanted = self.__dict__.get("_moto_patches_wanted")
            if wanted is None:  # per traverser: the node classes it processes, and its child hook
                wanted = self.__dict__["_moto_patches_wanted"] = {
                    "hook": type(self).pre_processing_of_child is not no_hook}
            if node.children is not None:
                if wanted["hook"]:
                    for i, child_node in enumerate(node.children):
                        self.pre_processing_of_child(node, i)
                        self.traverse_node_recursively(child_node, i)
                else:  # the base class's hook does nothing
                    for i, child_node in enumerate(node.children):
                        self.traverse_node_recursively(child_node, i)
            processed = wanted.get(cls)
            if processed is None:
                processed = wanted[cls] = isinstance(node, self.nodes_to_be_processed())
            if processed:
                node = self.process(node)
                node.parent = parent_node
                if parent_node:
                    parent_node.children[child_id] = node
        return node

    ast_nodes.DepthFirstTraverser.traverse_node_recursively = traverse_node_recursively

    clause_types = (ast_nodes.UpdateExpressionAddClause, ast_nodes.UpdateExpressionRemoveClause,
                    ast_nodes.UpdateExpressionSetClause)
    descend = (ast_nodes.Expression, ast_nodes.UpdateExpressionFunction)

    def counts(node: Any, memo: dict[int, tuple[Any, list[int]]]) -> list[int]:
        """Node.find_clauses for the three clause types at once, memoised per node."""
        known = memo.get(id(node))
        if known is not None and known[0] is node:
            return known[1]
        found = [0, 0, 0]
        for child in node.children or []:
            kind = type(child)
            below = counts(child, memo) if isinstance(child, descend) else None
            for n, clause in enumerate(clause_types):
                if kind is clause:  # counted, not descended into (for this type only)
                    found[n] += 1
                elif below is not None:
                    found[n] += below[n]
        memo[id(node)] = (node, found)
        return found

    def verify_action_counts(self: Any, node: Any) -> Any:
        memo = self.__dict__.setdefault("_moto_patches_counts", {})
        add, remove, set_ = counts(node, memo)
        if add > 1:
            raise TooManyClauses("ADD")
        if remove > 1:
            raise TooManyClauses("REMOVE")
        if set_ > 1:
            raise TooManyClauses("SET")
        return node

    validators.ActionCountValidator.verify_action_counts = verify_action_counts

    # The syntax tree: parsed once per expression text (twice per UpdateItem in moto) and
    # copied for each use by a plain tree copy instead of copy.deepcopy.
    atoms = (str, int, float, bool, type(None), bytes)

    def clone_tree(root: Any) -> Any:
        """copy.deepcopy of a tree of Nodes, lists and atoms, done directly (same classes,
        same attributes, parents pointing into the copy); _NotPlain for anything else."""
        memo: dict[int, Any] = {}

        def clone(value: Any) -> Any:
            kind: Any = type(value)
            if kind in atoms:
                return value
            if kind is list:
                return [clone(v) for v in value]
            node_type = is_node.get(kind)
            if node_type is None:
                node_type = is_node[kind] = isinstance(value, Node)
            if not node_type or kind.__dict__.get("__deepcopy__") or hasattr(value, "__slots__"):
                raise _NotPlain
            if id(value) in memo:
                return memo[id(value)]
            copied = kind.__new__(kind)
            memo[id(value)] = copied
            state = {}
            for name, attribute in value.__dict__.items():
                if name == "parent" and attribute is not None:
                    if id(attribute) not in memo:  # a parent outside the tree: deepcopy's business
                        raise _NotPlain
                    state[name] = memo[id(attribute)]
                else:
                    state[name] = clone(attribute)
            copied.__dict__.update(state)
            return copied

        return clone(root)

    def deepcopy(value: Any, memo: Any = None) -> Any:
        if memo is None:
            try:
                return clone_tree(value)
            except _NotPlain:
                pass
        return copy.deepcopy(value, memo)

    validators.deepcopy = deepcopy

    parser: Any = importlib.import_module("moto.dynamodb.parsing.expressions").UpdateExpressionParser
    make = parser.make.__func__
    parsed: dict[tuple[type, str], Any] = {}

    def cached_make(cls: Any, expression_str: str) -> Any:
        tree = parsed.get((cls, expression_str))
        if tree is None:
            tree = make(cls, expression_str)  # raises on a malformed expression: nothing kept
            if len(parsed) < 4096:
                parsed[(cls, expression_str)] = tree
        try:
            return clone_tree(tree)
        except _NotPlain:
            return make(cls, expression_str)

    parser.make = classmethod(cached_make)


def _fast_queue_attributes() -> None:
    """moto's GetQueueAttributes for named attributes computes all of a queue's attributes
    (counting its messages each time) twice per name asked; the pump asks three names of
    every queue several times a second. Computed once per call here, same answer."""
    from moto.sqs import models
    from moto.sqs.exceptions import InvalidAttributeName

    def get_queue_attributes(self: Any, queue_name: str, attribute_names: list[str]) -> dict[str, Any]:
        queue = self.get_queue(queue_name)
        if not attribute_names:
            return {}
        valid_names = ["All"] + queue.BASE_ATTRIBUTES + queue.FIFO_ATTRIBUTES + queue.KMS_ATTRIBUTES
        invalid_name = next((name for name in attribute_names if name not in valid_names), None)
        if invalid_name or invalid_name == "":
            raise InvalidAttributeName(invalid_name)
        everything = queue.attributes
        if "All" in attribute_names:
            return everything
        return {name: everything[name] for name in attribute_names if everything.get(name) is not None}

    models.SQSBackend.get_queue_attributes = get_queue_attributes  # type: ignore[method-assign]


def _cached_lookups() -> None:
    """Per request, moto's server lists its own package directory (to tell a service name
    from a host name), lists the handler class's methods, and converts names with
    regular expressions: all constant, so cached."""
    import functools

    from moto import backends
    from moto.core import responses, utils
    from moto.sqs import models as sqs_models

    modules = tuple(backends.list_of_moto_modules())
    backends.list_of_moto_modules = lambda: iter(modules)
    names = functools.lru_cache(maxsize=None)(utils.method_names_from_class)
    responses.method_names_from_class = lambda clazz: list(names(clazz))
    underscores = functools.lru_cache(maxsize=4096)(utils.camelcase_to_underscores)
    responses.camelcase_to_underscores = underscores
    sqs_models.camelcase_to_underscores = underscores


def _partition_queries() -> None:
    """moto answers every Query by sorting all of the table's items and then keeping the
    asked partition's: a query costs O(table log table), and the local stack's tables hold
    every bench user. Here the query's own work is unchanged, but the items it starts from
    are only the candidates (the partition for a table query; for an index query, the items
    whose key attributes match its hash-key conditions, by moto's own test), in the same
    order the full sort gives them; everything after (sorting, paging, filters) is moto's."""
    from moto.dynamodb.models.table import Table

    original_query = Table.query
    original_all_items = Table.all_items
    local = threading.local()

    def order(x: Any) -> Any:  # Table.all_items's sort key
        return (x.hash_key, x.range_key) if x.range_key else x.hash_key

    def all_items(self: Any) -> Any:
        narrowed = getattr(local, "narrowed", None)
        if narrowed is not None and narrowed[0] is self:
            return list(narrowed[1])
        return original_all_items(self)

    def candidates(self: Any, hash_key: Any, index_name: Any, hash_key_conditions: Any) -> list[Any] | None:
        if not index_name:
            if hash_key is None:
                return None
            partition = self.items.get(hash_key)
            if partition is None:
                return []
            return list(partition.values()) if self.range_key_attr else [partition]
        if not hash_key_conditions:
            return None
        found = []
        for hash_set in self.items.values():
            for item in hash_set.values() if self.range_key_attr else [hash_set]:
                for attr_name, expected_value in hash_key_conditions:
                    item_value = item.attrs.get(attr_name)
                    if not item_value or item_value != expected_value:
                        break
                else:
                    found.append(item)
        return found

    def query(self: Any, hash_key: Any, range_comparison: Any, range_objs: Any, limit: Any,
              exclusive_start_key: Any, scan_index_forward: Any, projection_expressions: Any,
              index_name: Any = None, consistent_read: Any = False, filter_expression: Any = None,
              hash_key_conditions: Any = None, range_key_conditions: Any = None, **filter_kwargs: Any) -> Any:
        def run() -> Any:
            return original_query(self, hash_key, range_comparison, range_objs, limit, exclusive_start_key,
                                  scan_index_forward, projection_expressions, index_name, consistent_read,
                                  filter_expression, hash_key_conditions=hash_key_conditions,
                                  range_key_conditions=range_key_conditions, **filter_kwargs)

        found = candidates(self, hash_key, index_name, hash_key_conditions)
        if found is None:
            return run()
        before = getattr(local, "narrowed", None)
        local.narrowed = (self, sorted(found, key=order))
        try:
            return run()
        finally:
            local.narrowed = before

    Table.all_items = all_items  # type: ignore[method-assign]
    Table.query = query  # type: ignore[method-assign]
