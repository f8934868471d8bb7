"""Edit operations on a draft graph. Pure: each takes a graph and returns a new one, or
raises ``Invalid`` naming the request field that makes it impossible. New node ids come
from ``new_id`` (a callable), so tests can make them deterministic.

Undo and redo are not here: they move along the draft's revision history (``history``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from chalicelib.errors import Invalid
from chalicelib.journeys import graph
from chalicelib.journeys.graph import Branch, Edge, Graph, Node

MAX_NODES = 200
MAX_EDGES = 2 * MAX_NODES + 200

NewId = Callable[[], str]


def _node(g: Graph, node_id: str, field: str) -> Node:
    node = g.node(node_id)
    if node is None:
        raise Invalid(field, f"no node '{node_id}' in this journey")
    return node


def _fresh(g: Graph, new_id: NewId, taken: set[str] | None = None) -> str:
    used = g.ids() | (taken or set())
    for _ in range(100):
        candidate = new_id()
        if candidate not in used:
            return candidate
    raise RuntimeError("the id source keeps repeating ids")  # a bug, not bad input


def _branch(node: Node, branch: Branch, field: str = "branch") -> Branch:
    emitted = graph.branches(node)
    if branch not in emitted:
        if not emitted:
            raise Invalid(field, f"'{node.id}' is an End: nothing can follow it")
        if emitted == [None]:
            raise Invalid(field, f"'{node.id}' has one next link: leave branch out")
        raise Invalid(field, f"'{node.id}' has the branches {', '.join(str(b) for b in emitted)}")
    return branch


def _capacity(g: Graph, more_nodes: int) -> None:
    if len(g.nodes) + more_nodes > MAX_NODES:
        raise Invalid("nodes", f"a journey has at most {MAX_NODES} nodes")


def insert(g: Graph, node_type: str, config: dict[str, Any], *, after: str | None, branch: Branch,
           branch_out: Branch, new_id: NewId) -> tuple[Graph, str]:
    """Add a node at the end of ``after``'s ``branch``, or between ``after`` and the node
    that branch leads to (the new node's ``branch_out``, by default its first branch, then
    leads there). With no ``after``, the node starts an empty journey."""
    _capacity(g, 1)
    node = Node(_fresh(g, new_id), node_type, dict(config))
    if after is None:
        if g.nodes:
            raise Invalid("after", "which node the new one follows (only an empty journey takes a node without one)")
        return Graph((node,), ()), node.id
    if graph.is_trigger(node):
        raise Invalid("node.type", "a trigger is always the first node; a journey has one")
    source = _node(g, after, "after")
    _branch(source, branch)
    existing = g.edge_on(source.id, branch)
    edges = list(g.edges)
    if existing is None:
        edges.append(Edge(source.id, node.id, branch))
    else:
        emitted = graph.branches(node)
        if not emitted:
            raise Invalid("node.type", "an End cannot go between two nodes: it would cut off what follows")
        out = emitted[0] if branch_out is None and None not in emitted else branch_out
        _branch(node, out, "branch_out")
        edges[edges.index(existing)] = Edge(source.id, node.id, branch)
        edges.append(Edge(node.id, existing.target, out))
    return Graph(g.nodes + (node,), tuple(edges)), node.id


def connect(g: Graph, *, source: str, branch: Branch, target: str) -> Graph:
    """Link ``source``'s open ``branch`` to an existing node (several branches may lead to one node)."""
    start = _node(g, source, "from")
    end = _node(g, target, "to")
    _branch(start, branch)
    if g.edge_on(start.id, branch) is not None:
        raise Invalid("branch", f"this branch of '{start.id}' already leads somewhere: cut that link first")
    if graph.is_trigger(end):
        raise Invalid("to", "nothing may lead into the trigger")
    if graph.would_loop(g, start.id, end.id):
        raise Invalid("to", f"linking '{start.id}' to '{end.id}' would make a loop; a journey only moves forward")
    if len(g.edges) >= MAX_EDGES:
        raise Invalid("edges", f"a journey has at most {MAX_EDGES} links")
    return Graph(g.nodes, g.edges + (Edge(start.id, end.id, branch),))


def copy(g: Graph, *, node_id: str, downstream: bool) -> Graph:
    """A fragment to paste: the node, or the node and everything after it (the links among them)."""
    root = _node(g, node_id, "node_id")
    keep = {root.id} | (graph.descendants(g, root.id) if downstream else set())
    nodes = tuple(n for n in g.nodes if n.id in keep)
    nodes = (root,) + tuple(n for n in nodes if n.id != root.id)  # the root first
    edges = tuple(e for e in g.edges if e.source in keep and e.target in keep)
    return Graph(nodes, edges)


def paste(g: Graph, fragment: Graph, *, after: str | None, branch: Branch, new_id: NewId) -> tuple[Graph, dict[str, str]]:
    """Add a copy of ``fragment`` (configurations copied, new ids) at the end of ``after``'s
    open ``branch``; its first node is its root. Returns the graph and old id -> new id."""
    if not fragment.nodes:
        raise Invalid("fragment.nodes", "nothing to paste")
    if any(graph.is_trigger(n) for n in fragment.nodes) and (after is not None or g.nodes):
        raise Invalid("fragment.nodes", "a trigger cannot be pasted: a journey has one trigger, first")
    _capacity(g, len(fragment.nodes))
    mapping: dict[str, str] = {}
    for node in fragment.nodes:
        if node.id not in mapping:
            mapping[node.id] = _fresh(g, new_id, set(mapping.values()))
    copied = tuple(Node(mapping[n.id], n.type, dict(n.config)) for n in fragment.nodes)
    if len({n.id for n in fragment.nodes}) != len(fragment.nodes):
        raise Invalid("fragment.nodes", "two nodes of the fragment have the same id")
    inner = tuple(Edge(mapping[e.source], mapping[e.target], e.branch) for e in fragment.edges
                  if e.source in mapping and e.target in mapping)
    pasted = Graph(g.nodes + copied, g.edges + inner)
    for edge in inner:  # the fragment's own links must make sense too
        _branch(pasted.node(edge.source) or copied[0], edge.branch, "fragment.edges")
    if graph.find_cycle(Graph(copied, inner)):
        raise Invalid("fragment.edges", "the fragment's links make a loop")
    root = copied[0]
    if after is None:
        if g.nodes:
            raise Invalid("after", "which node the pasted nodes follow")
        return pasted, mapping
    source = _node(g, after, "after")
    _branch(source, branch)
    if g.edge_on(source.id, branch) is not None:
        raise Invalid("branch", f"this branch of '{source.id}' already leads somewhere: paste onto an open branch")
    if len(pasted.edges) >= MAX_EDGES:
        raise Invalid("edges", f"a journey has at most {MAX_EDGES} links")
    return Graph(pasted.nodes, pasted.edges + (Edge(source.id, root.id, branch),)), mapping


def _prune(g: Graph, candidates: Iterable[str]) -> Graph:
    """Drop, repeatedly, the candidates that nothing leads to any more (and their links)."""
    nodes = list(g.nodes)
    edges = list(g.edges)
    pending = set(candidates)
    changed = True
    while changed:
        changed = False
        targets = {e.target for e in edges}
        for node_id in list(pending):
            if node_id not in targets:
                pending.discard(node_id)
                nodes = [n for n in nodes if n.id != node_id]
                edges = [e for e in edges if e.source != node_id]
                changed = True
    return Graph(tuple(nodes), tuple(edges))


def delete_subtree(g: Graph, *, node_id: str) -> Graph:
    """Remove a node and everything after it that only it leads to (a node reached from
    elsewhere too stays)."""
    node = _node(g, node_id, "node_id")
    after = graph.descendants(g, node.id) - {node.id}
    trimmed = Graph(tuple(n for n in g.nodes if n.id != node.id),
                    tuple(e for e in g.edges if e.source != node.id and e.target != node.id))
    return _prune(trimmed, after)


def delete_alone(node_id: str) -> Graph:
    """Refused: deleting a node alone would leave what follows it hanging."""
    raise Invalid("op", "a node cannot be deleted alone (what follows it would be left unlinked): delete it with "
                        "everything after it (delete_subtree), or cut the link before it (cut)")


def cut(g: Graph, *, node_id: str, source: str | None) -> Graph:
    """Remove the link into ``node_id`` (from ``source``, or every link into it), then the
    nodes that nothing leads to any more: the node and what follows it, unless reached otherwise."""
    node = _node(g, node_id, "node_id")
    incoming = [e for e in g.in_edges(node.id) if source is None or e.source == source]
    if not incoming:
        raise Invalid("from" if source else "node_id", f"no link leads into '{node.id}'" +
                      (f" from '{source}'" if source else ""))
    remaining = tuple(e for e in g.edges if e not in incoming)
    candidates = {node.id} | graph.descendants(g, node.id)
    return _prune(Graph(g.nodes, remaining), candidates)


def add_ends(g: Graph, *, new_id: NewId) -> Graph:
    """An End on every open branch."""
    open_ = list(graph.open_branches(g))
    if not open_:
        raise Invalid("op", "every branch already leads somewhere: no End to add")
    _capacity(g, len(open_))
    nodes = list(g.nodes)
    edges = list(g.edges)
    taken: set[str] = set()
    for node, branch in open_:
        end_id = _fresh(g, new_id, taken)
        taken.add(end_id)
        nodes.append(Node(end_id, "end", {}))
        edges.append(Edge(node.id, end_id, branch))
    return Graph(tuple(nodes), tuple(edges))


def set_config(g: Graph, *, node_id: str, config: dict[str, Any]) -> Graph:
    """Replace one node's configuration (its type stays)."""
    node = _node(g, node_id, "node_id")
    nodes = tuple(replace(n, config=dict(config)) if n.id == node.id else n for n in g.nodes)
    return Graph(nodes, g.edges)
