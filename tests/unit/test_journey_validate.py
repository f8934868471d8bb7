"""Journey validation: one test per rule, each problem naming its node and field."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.journeys import graph, validate
from chalicelib.journeys.graph import Edge, Graph, Node
from chalicelib.journeys.validate import TemplateInfo


class Catalog:
    def __init__(self, audiences=None, templates=None, providers=None, events=None):
        self._audiences = audiences or {}
        self._templates = templates or {}
        self._providers = providers or {}
        self._events = events
        self.calls: list[str] = []

    def audiences(self, ids):
        self.calls.append("audiences")
        return {i: s for i, s in self._audiences.items() if i in ids}

    def templates(self, ids):
        self.calls.append("templates")
        return {i: t for i, t in self._templates.items() if i in ids}

    def providers(self, names):
        self.calls.append("providers")
        return {n: c for n, c in self._providers.items() if n in names}

    def event_names(self):
        self.calls.append("events")
        return self._events


GOOD_CATALOG = Catalog(audiences={"aud1": "ready"}, templates={"tpl1": TemplateInfo("sms", "approved")},
                       providers={"sms1": "sms"})


def chain(*typed, edges=None):
    nodes = tuple(Node(i, t, c) for i, t, c in typed)
    if edges is None:
        edges = tuple(Edge(a.id, b.id) for a, b in zip(nodes, nodes[1:]))
    return Graph(nodes, tuple(edges))


def good():
    return chain(("t", "trigger_audience", {"audience_id": "aud1"}),
                 ("s", "sms", {"provider": "sms1", "template_id": "tpl1"}),
                 ("e", "end", {}))


def pairs(problems):
    return {(p.node_id, p.field) for p in problems}


def test_a_complete_journey_has_no_problems():
    assert validate.validate(good(), GOOD_CATALOG) == []


def test_a_journey_without_a_trigger_is_refused():
    g = chain(("w", "wait", {"duration": "PT1H"}), ("e", "end", {}))
    assert (None, "nodes") in pairs(validate.validate(g))


def test_a_second_trigger_is_named():
    g = Graph(good().nodes + (Node("t2", "trigger_manual", {}),), good().edges)
    assert ("t2", "type") in pairs(validate.validate(g))


def test_the_trigger_must_be_the_root():
    g = Graph(good().nodes, good().edges + (Edge("s", "t"),))
    assert ("t", "edges") in pairs(validate.validate(g))


def test_a_node_is_configured_by_its_schema():
    g = chain(("t", "trigger_audience", {"audience_id": "aud1"}), ("w", "wait", {"duration": "1 hour"}),
              ("e", "end", {}))
    problems = validate.validate(g)
    assert ("w", "config.duration") in pairs(problems)
    assert "ISO 8601" in next(p.message for p in problems if p.node_id == "w")


def test_a_missing_config_field_is_named():
    g = chain(("t", "trigger_audience", {"audience_id": "aud1"}), ("s", "sms", {"provider": "sms1"}), ("e", "end", {}))
    assert ("s", "config.template_id") in pairs(validate.validate(g))


def test_an_open_branch_must_end_in_an_end():
    g = chain(("t", "trigger_event", {"event": "login"}), ("j", "event_judgment", {"event": "buy", "within": "P1D"}),
              ("e", "end", {}), edges=[Edge("t", "j"), Edge("j", "e", "yes")])
    assert ("j", "branches.no") in pairs(validate.validate(g))


def test_a_path_that_stops_without_an_end_is_named():
    g = chain(("t", "trigger_manual", {}), ("w", "wait", {"duration": "PT1H"}))
    assert ("w", "next") in pairs(validate.validate(g))


def test_a_loop_is_refused():
    g = chain(("t", "trigger_manual", {}), ("a", "wait", {"duration": "PT1H"}), ("b", "wait", {"duration": "PT1H"}),
              edges=[Edge("t", "a"), Edge("a", "b"), Edge("b", "a")])
    problems = validate.validate(g)
    assert any(p.field == "edges" and "loop" in p.message for p in problems)


def test_ab_percentages_with_control_must_sum_to_100():
    config = {"variants": [{"id": "a", "percent": 50}, {"id": "b", "percent": 30}], "control_percent": 10}
    g = chain(("t", "trigger_manual", {}), ("ab", "ab_test", config), ("e", "end", {}),
              edges=[Edge("t", "ab"), Edge("ab", "e", "a"), Edge("ab", "e", "b"), Edge("ab", "e", "control")])
    problems = validate.validate(g)
    assert ("ab", "config.variants") in pairs(problems)
    assert "90" in next(p.message for p in problems if p.node_id == "ab")


def test_split_percentages_must_sum_to_100():
    config = {"groups": [{"id": "a", "percent": 50}, {"id": "b", "percent": 60}]}
    g = chain(("t", "trigger_manual", {}), ("r", "random_split", config), ("e", "end", {}),
              edges=[Edge("t", "r"), Edge("r", "e", "a"), Edge("r", "e", "b")])
    assert ("r", "config.groups") in pairs(validate.validate(g))


def test_an_edge_on_a_branch_its_node_does_not_emit_is_named():
    g = Graph(good().nodes, good().edges + (Edge("s", "e", "yes"),))
    assert ("s", "edges[2].branch") in pairs(validate.validate(g))


def test_an_edge_from_a_missing_node_is_named():
    g = Graph(good().nodes, good().edges + (Edge("ghost", "e"),))
    assert (None, "edges[2].from") in pairs(validate.validate(g))


def test_two_links_on_one_branch_are_refused():
    g = Graph(good().nodes + (Node("e2", "end", {}),), good().edges + (Edge("s", "e2"),))
    assert ("s", "edges[2].branch") in pairs(validate.validate(g))


def test_an_unreachable_node_is_named():
    g = Graph(good().nodes + (Node("lost", "end", {}),), good().edges)
    assert ("lost", "node") in pairs(validate.validate(g))


def test_a_missing_or_unready_audience_is_named():
    catalog = Catalog(audiences={"aud1": "building"}, templates=GOOD_CATALOG._templates, providers={"sms1": "sms"})
    problems = validate.validate(good(), catalog)
    assert ("t", "config.audience_id") in pairs(problems)
    assert "ready" in problems[0].message
    assert ("t", "config.audience_id") in pairs(validate.validate(good(), Catalog(providers={"sms1": "sms"})))


def test_templates_must_exist_be_approved_and_match_the_channel():
    for templates, word in (({}, "no template"), ({"tpl1": TemplateInfo("sms", "pending_review")}, "approved"),
                            ({"tpl1": TemplateInfo("email", "approved")}, "email")):
        catalog = Catalog(audiences={"aud1": "ready"}, templates=templates, providers={"sms1": "sms"})
        problems = [p for p in validate.validate(good(), catalog) if p.field == "config.template_id"]
        assert problems and problems[0].node_id == "s" and word in problems[0].message


def test_providers_must_exist_for_the_channel():
    catalog = Catalog(audiences={"aud1": "ready"}, templates=GOOD_CATALOG._templates, providers={"sms1": "email"})
    assert ("s", "config.provider") in pairs(validate.validate(good(), catalog))


def test_events_must_be_declared_only_when_the_workspace_declares_events():
    g = chain(("t", "trigger_event", {"event": "signup"}), ("e", "end", {}))
    assert validate.validate(g, Catalog(events=None)) == []
    assert ("t", "config.event") in pairs(validate.validate(g, Catalog(events={"login"})))


def test_reference_lookups_are_batched_one_call_per_kind():
    catalog = Catalog(audiences={"aud1": "ready"}, templates=GOOD_CATALOG._templates, providers={"sms1": "sms"})
    many = chain(("t", "trigger_audience", {"audience_id": "aud1"}),
                 *[(f"s{i}", "sms", {"provider": "sms1", "template_id": "tpl1"}) for i in range(20)], ("e", "end", {}))
    validate.validate(many, catalog)
    assert sorted(catalog.calls) == ["audiences", "providers", "templates"]


def test_a_result_judgment_needs_a_touch_before_it():
    g = chain(("t", "trigger_manual", {}), ("r", "result_judgment", {"statuses": ["delivered"], "after": "PT1H"}),
              ("e", "end", {}), edges=[Edge("t", "r"), Edge("r", "e", "yes"), Edge("r", "e", "no")])
    assert ("r", "type") in pairs(validate.validate(g))


JSONISH = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                       lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                       max_leaves=10)
LABELS = st.one_of(st.none(), st.sampled_from(["yes", "no", "other", "control", "a", "x"]))


@settings(max_examples=300, deadline=None)
@given(nodes=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d"]), st.sampled_from(graph.NODE_TYPES + ("bogus",)),
                                st.one_of(JSONISH, st.fixed_dictionaries({}, optional={
                                    "variants": JSONISH, "groups": JSONISH, "audiences": JSONISH,
                                    "control_percent": JSONISH, "duration": JSONISH}))), max_size=6),
       edges=st.lists(st.tuples(st.sampled_from(["a", "b", "c", "d", "z"]), st.sampled_from(["a", "b", "c", "d", "z"]),
                                LABELS), max_size=8))
def test_validation_never_crashes_on_any_graph(nodes, edges):
    g = Graph(tuple(Node(i, t, c) for i, t, c in nodes), tuple(Edge(a, b, l) for a, b, l in edges))
    problems = validate.validate(g, Catalog(events=set()))
    assert all(isinstance(p.message, str) and p.message for p in problems)
