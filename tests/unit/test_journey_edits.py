"""Draft edits and their undo/redo history, over any sequence of operations (hypothesis)."""
from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib.errors import Conflict, Invalid
from chalicelib.journeys import edits, graph, history, validate
from chalicelib.journeys.graph import Edge, Graph, Node

CONFIGS = {
    "trigger_event": {"event": "register"},
    "sms": {"provider": "sms1", "template_id": "tpl1"},
    "wait": {"duration": "P1D"},
    "event_judgment": {"event": "login", "within": "P3D"},
    "ab_test": {"variants": [{"id": "a", "percent": 50}, {"id": "b", "percent": 40}], "control_percent": 10},
    "random_split": {"groups": [{"id": "g1", "percent": 50}, {"id": "g2", "percent": 50}]},
    "audience_judgment": {"audiences": ["aud1", "aud2"]},
    "tag": {"add": ["vip"]},
    "end": {},
}
TYPES = sorted(t for t in CONFIGS if t != "trigger_event")


class Store:
    """An in-memory draft: snapshots by id plus the history pointer, as the repo keeps them."""

    def __init__(self, g: Graph):
        self.snapshots = {1: g}
        self.draft = history.start()
        self.counter = itertools.count()

    def new_id(self) -> str:
        return f"n{next(self.counter)}"

    @property
    def graph(self) -> Graph:
        return self.snapshots[self.draft.current]

    def commit(self, g: Graph) -> None:
        self.draft, dropped = history.record(self.draft)
        self.snapshots[self.draft.current] = g
        for d in dropped:
            del self.snapshots[d]

    def undo(self) -> None:
        self.draft = history.undo(self.draft)

    def redo(self) -> None:
        self.draft = history.redo(self.draft)


def seed() -> Graph:
    return Graph((Node("t", "trigger_event", CONFIGS["trigger_event"]),), ())


def apply(store: Store, op: tuple, data: st.DataObject) -> bool:
    """Try one edit chosen by ``op``; True when it changed the draft."""
    g = store.graph
    ids = [n.id for n in g.nodes]
    pick = lambda: data.draw(st.sampled_from(ids)) if ids else "missing"  # noqa: E731
    kind = op[0]
    try:
        if kind == "insert":
            after = pick()
            node = g.node(after)
            branch = data.draw(st.sampled_from(graph.branches(node) or [None])) if node else None
            new, _ = edits.insert(g, op[1], CONFIGS[op[1]], after=after, branch=branch, branch_out=None,
                                  new_id=store.new_id)
        elif kind == "connect":
            source, target = pick(), pick()
            node = g.node(source)
            branch = data.draw(st.sampled_from(graph.branches(node) or [None])) if node else None
            new = edits.connect(g, source=source, branch=branch, target=target)
        elif kind == "copy_paste":
            fragment = edits.copy(g, node_id=pick(), downstream=op[1])
            after = pick()
            node = g.node(after)
            branch = data.draw(st.sampled_from(graph.branches(node) or [None])) if node else None
            new, _ = edits.paste(g, fragment, after=after, branch=branch, new_id=store.new_id)
        elif kind == "delete_subtree":
            new = edits.delete_subtree(g, node_id=pick())
        elif kind == "cut":
            new = edits.cut(g, node_id=pick(), source=None)
        else:
            new = edits.add_ends(g, new_id=store.new_id)
    except Invalid:
        return False
    store.commit(new)
    return True


OPS = st.one_of(
    st.tuples(st.just("insert"), st.sampled_from(TYPES)),
    st.tuples(st.just("connect")),
    st.tuples(st.just("copy_paste"), st.booleans()),
    st.tuples(st.just("delete_subtree")),
    st.tuples(st.just("cut")),
    st.tuples(st.just("add_ends")),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(OPS, min_size=1, max_size=history.LIMIT), data=st.data())
def test_undoing_every_edit_gives_back_the_original_and_redoing_gives_back_the_edited(ops, data):
    store = Store(seed())
    original = store.graph
    done = 0
    for op in ops:
        done += apply(store, op, data)
        problems = validate.validate(store.graph)  # never raises, on any graph the edits build
        assert all(isinstance(p, validate.Problem) for p in problems)
    edited = store.graph

    for _ in range(done):
        store.undo()
    assert store.graph == original
    with pytest.raises(Conflict):
        store.undo()
    for _ in range(done):
        store.redo()
    assert store.graph == edited
    assert len(store.snapshots) == done + 1  # nothing kept that the history cannot reach


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(OPS, min_size=1, max_size=30), data=st.data())
def test_the_edits_never_build_a_loop(ops, data):
    store = Store(seed())
    for op in ops:
        apply(store, op, data)
        assert graph.find_cycle(store.graph) is None


def test_history_keeps_the_last_fifty_edits():
    store = Store(seed())
    for i in range(history.LIMIT + 5):
        store.commit(Graph(store.graph.nodes + (Node(f"x{i}", "end"),), ()))
    for _ in range(history.LIMIT):
        store.undo()
    assert len(store.graph.nodes) == 1 + 5
    with pytest.raises(Conflict) as caught:
        store.undo()
    assert caught.value.code == "nothing_to_undo"
    assert len(store.snapshots) == history.LIMIT + 1


def test_an_edit_after_an_undo_clears_the_redo():
    store = Store(seed())
    store.commit(Graph(store.graph.nodes + (Node("a", "end"),), ()))
    store.undo()
    store.commit(Graph(store.graph.nodes + (Node("b", "end"),), ()))
    with pytest.raises(Conflict):
        store.redo()


def ids_from(*names):
    it = iter(names)
    return lambda: next(it)


def test_insert_between_two_nodes_keeps_the_link_through_the_new_node():
    g = Graph((Node("t", "trigger_event", {}), Node("e", "end")), (Edge("t", "e"),))
    new, node_id = edits.insert(g, "event_judgment", {}, after="t", branch=None, branch_out=None, new_id=ids_from("j"))
    assert set(new.edges) == {Edge("t", "j"), Edge("j", "e", "yes")}
    new, _ = edits.insert(g, "wait", {}, after="t", branch=None, branch_out=None, new_id=ids_from("w"))
    assert set(new.edges) == {Edge("t", "w"), Edge("w", "e")}


def test_inserting_on_a_branch_the_node_does_not_have_names_the_branch():
    g = Graph((Node("t", "trigger_event", {}),), ())
    with pytest.raises(Invalid) as caught:
        edits.insert(g, "end", {}, after="t", branch="yes", branch_out=None, new_id=ids_from("x"))
    assert caught.value.errors[0].field == "branch"


def test_deleting_a_node_alone_is_refused_with_words():
    with pytest.raises(Invalid) as caught:
        edits.delete_alone("n1")
    assert "delete_subtree" in caught.value.errors[0].message


def test_delete_subtree_keeps_a_node_reached_from_elsewhere():
    nodes = tuple(Node(i, t) for i, t in [("t", "trigger_manual"), ("j", "event_judgment"), ("a", "wait"),
                                             ("b", "wait"), ("m", "end")])
    g = Graph(nodes, (Edge("t", "j"), Edge("j", "a", "yes"), Edge("j", "b", "no"), Edge("a", "m"), Edge("b", "m")))
    new = edits.delete_subtree(g, node_id="a")
    assert new.ids() == {"t", "j", "b", "m"}
    new = edits.delete_subtree(g, node_id="j")
    assert new.ids() == {"t"}


def test_cut_drops_what_becomes_unreachable_and_connect_refuses_a_loop():
    nodes = tuple(Node(i, t) for i, t in [("t", "trigger_manual"), ("w", "wait"), ("x", "wait"), ("e", "end")])
    g = Graph(nodes, (Edge("t", "w"), Edge("w", "x"), Edge("x", "e")))
    assert edits.cut(g, node_id="x", source=None).ids() == {"t", "w"}
    with pytest.raises(Invalid) as caught:
        edits.connect(Graph(nodes, (Edge("t", "w"), Edge("w", "x"))), source="x", branch=None, target="w")
    assert caught.value.errors[0].field == "to"


def test_copy_with_downstream_and_paste_copies_configuration_under_new_ids():
    nodes = (Node("t", "trigger_manual"), Node("w", "wait", {"duration": "P1D"}), Node("e", "end"),
             Node("j", "event_judgment", {}))
    g = Graph(nodes, (Edge("t", "j"), Edge("j", "w", "yes"), Edge("w", "e")))
    fragment = edits.copy(g, node_id="w", downstream=True)
    new, mapping = edits.paste(g, fragment, after="j", branch="no", new_id=ids_from("w2", "e2"))
    assert mapping == {"w": "w2", "e": "e2"}
    assert new.node("w2") == Node("w2", "wait", {"duration": "P1D"})
    assert Edge("j", "w2", "no") in new.edges and Edge("w2", "e2") in new.edges


def test_add_ends_closes_every_open_branch():
    g = Graph((Node("t", "trigger_manual"), Node("s", "random_split", CONFIGS["random_split"])), (Edge("t", "s"),))
    new = edits.add_ends(g, new_id=ids_from("e1", "e2"))
    assert list(graph.open_branches(new)) == []
    assert {e.branch for e in new.out_edges("s")} == {"g1", "g2"}
