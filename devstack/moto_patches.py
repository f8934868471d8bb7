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
