"""The journey graph, pure: nodes with a type and a configuration, edges with branch labels.

Each node type emits a fixed set of branches: most emit one unlabelled ``next`` branch
(``None`` here, absent in JSON), judgments ``yes`` and ``no``, an A/B test one per variant
id plus ``control`` when it has a control group, a random split one per group id, an
audience judgment one per audience id plus ``other``, an End none. Every function here
accepts any graph, however malformed its configurations, and never raises on one.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

TRIGGERS = ("trigger_audience", "trigger_event", "trigger_manual")
TOUCHES = ("sms", "digital_sms", "email", "wechat", "wechat_template", "push", "whatsapp", "viber")
ACTIONS = ("tag", "generate_audience", "webhook", "kafka")
FLOW = ("wait", "ab_test", "random_split", "end")
JUDGMENTS = ("tag_judgment", "event_judgment", "attribute_judgment", "result_judgment", "audience_judgment")
NODE_TYPES = TRIGGERS + TOUCHES + ACTIONS + FLOW + JUDGMENTS
YES_NO = ("yes", "no")
CONTROL = "control"
OTHER = "other"

Branch = str | None  # None: the one unlabelled "next" branch


@dataclass(frozen=True)
class Node:
    id: str
    type: str
    config: dict[str, Any] = field(default_factory=dict, hash=False)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "type": self.type, "config": self.config}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    branch: Branch = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"from": self.source, "to": self.target}
        if self.branch is not None:
            out["branch"] = self.branch
        return out


@dataclass(frozen=True)
class Graph:
    """Nodes in the order they were added, edges likewise. Node ids are unique."""

    nodes: tuple[Node, ...] = ()
    edges: tuple[Edge, ...] = ()

    def node(self, node_id: str) -> Node | None:
        for node in self.nodes:
            if node.id == node_id:
                return node
        return None

    def ids(self) -> set[str]:
        return {n.id for n in self.nodes}

    def out_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.source == node_id]

    def in_edges(self, node_id: str) -> list[Edge]:
        return [e for e in self.edges if e.target == node_id]

    def edge_on(self, node_id: str, branch: Branch) -> Edge | None:
        for edge in self.edges:
            if edge.source == node_id and edge.branch == branch:
                return edge
        return None

    def to_json(self) -> dict[str, Any]:
        return {"nodes": [n.to_json() for n in self.nodes], "edges": [e.to_json() for e in self.edges]}

    @staticmethod
    def from_json(data: dict[str, Any]) -> "Graph":
        """From the stored or requested shape (already validated structurally)."""
        nodes = tuple(Node(str(n["id"]), str(n["type"]), dict(n.get("config") or {})) for n in data.get("nodes") or ())
        edges = tuple(Edge(str(e["from"]), str(e["to"]), e.get("branch")) for e in data.get("edges") or ())
        return Graph(nodes, edges)


def _ids(items: Any, key: str = "id") -> list[str]:
    """The string ids of a list of objects in a configuration, skipping whatever is malformed."""
    if not isinstance(items, list):
        return []
    found: list[str] = []
    for item in items:
        value = item.get(key) if isinstance(item, dict) else (item if key == "" else None)
        if isinstance(value, str) and value not in found:
            found.append(value)
    return found


def branches(node: Node) -> list[Branch]:
    """The branches this node emits, in display order (from its configuration as it is)."""
    config = node.config if isinstance(node.config, dict) else {}
    if node.type == "end":
        return []
    if node.type in ("tag_judgment", "event_judgment", "attribute_judgment", "result_judgment"):
        return list(YES_NO)
    if node.type == "ab_test":
        labels: list[Branch] = list(_ids(config.get("variants")))
        control = config.get("control_percent")
        if isinstance(control, (int, float)) and not isinstance(control, bool) and control > 0:
            labels.append(CONTROL)
        return labels
    if node.type == "random_split":
        return list(_ids(config.get("groups")))
    if node.type == "audience_judgment":
        return [*_ids(config.get("audiences"), ""), OTHER]
    return [None]


def is_trigger(node: Node) -> bool:
    return node.type in TRIGGERS


def children(graph: Graph, node_id: str) -> list[str]:
    return [e.target for e in graph.out_edges(node_id)]


def descendants(graph: Graph, node_id: str) -> set[str]:
    """Every node reachable from ``node_id`` (not itself unless on a loop)."""
    seen: set[str] = set()
    stack = children(graph, node_id)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(children(graph, current))
    return seen


def reachable(graph: Graph, roots: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        current = stack.pop()
        if current not in seen:
            seen.add(current)
            stack.extend(children(graph, current))
    return seen


def open_branches(graph: Graph) -> Iterator[tuple[Node, Branch]]:
    """(node, branch) for every branch that has no edge yet."""
    taken = {(e.source, e.branch) for e in graph.edges}
    for node in graph.nodes:
        for branch in branches(node):
            if (node.id, branch) not in taken:
                yield node, branch


def find_cycle(graph: Graph) -> list[str] | None:
    """The nodes of one loop, in order, or None when the graph has none (iterative DFS)."""
    ids = graph.ids()
    adjacency: dict[str, list[str]] = {n: [] for n in ids}
    for edge in graph.edges:
        if edge.source in ids and edge.target in ids:
            adjacency[edge.source].append(edge.target)
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    for start in [n.id for n in graph.nodes]:
        if state.get(start):
            continue
        path: list[str] = [start]
        iters = [iter(adjacency[start])]
        state[start] = 1
        while iters:
            nxt = next(iters[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                iters.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                iters.append(iter(adjacency[nxt]))
    return None


def would_loop(graph: Graph, source: str, target: str) -> bool:
    """Would an edge source -> target close a loop?"""
    return source == target or source in descendants(graph, target)
