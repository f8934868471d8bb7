"""Campaign rules, pure: the derived stage, never its own ancestor, bounded depth, deletion."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.campaigns import campaigns as rules
from chalicelib.campaigns.campaigns import Campaign, Stage
from chalicelib.errors import Conflict, Invalid

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)


def c(cid: str, parent: str | None = None, *, start: str | None = None, end: str | None = None,
      active: int = 0) -> Campaign:
    return Campaign(cid, cid.upper(), None, parent, start, end, active, 1, "t", "t")


def tree(*campaigns: Campaign) -> dict[str, Campaign]:
    return {x.id: x for x in campaigns}


def test_the_stage_follows_the_times_and_what_is_attached():
    assert rules.stage(c("a"), NOW) is Stage.planning
    assert rules.stage(c("a", start="2026-11-27T00:00:00.000Z"), NOW) is Stage.planning
    assert rules.stage(c("a", start="2026-11-26T11:59:00.000Z"), NOW) is Stage.running
    assert rules.stage(c("a", active=1), NOW) is Stage.running
    assert rules.stage(c("a", start="2026-11-01T00:00:00.000Z", end="2026-11-26T12:00:00.000Z", active=2),
                       NOW) is Stage.ended


def test_a_campaign_cannot_become_a_child_of_itself_or_of_its_descendants():
    everything = tree(c("a"), c("b", "a"), c("c", "b"))
    with pytest.raises(Invalid, match="own parent or ancestor"):
        rules.check_parent(everything, "a", "a")
    with pytest.raises(Invalid, match="own parent or ancestor"):
        rules.check_parent(everything, "a", "c")
    assert rules.check_parent(everything, "c", "a") == ["a"]


def test_the_tree_stays_within_the_depth_limit_counting_the_moved_subtree():
    chain = [c("l0")] + [c(f"l{i}", f"l{i - 1}") for i in range(1, rules.MAX_DEPTH)]
    everything = tree(*chain, c("x"), c("y", "x"))
    assert rules.check_parent(everything, None, f"l{rules.MAX_DEPTH - 2}")  # a new leaf on level MAX_DEPTH
    with pytest.raises(Invalid, match="at most"):
        rules.check_parent(everything, None, f"l{rules.MAX_DEPTH - 1}")
    with pytest.raises(Invalid, match="at most"):
        rules.check_parent(everything, "x", f"l{rules.MAX_DEPTH - 2}")  # x brings y one level lower


def test_an_unknown_parent_is_refused_naming_the_field():
    with pytest.raises(Invalid) as refused:
        rules.check_parent(tree(c("a")), None, "nope")
    assert refused.value.errors[0].field == "parent_id"


def test_deleting_takes_the_sub_campaigns_and_refuses_while_anything_below_runs():
    everything = tree(c("a"), c("b", "a"), c("c", "b"), c("d"))
    assert [x.id for x in rules.deletion(everything, "a", NOW)] == ["a", "b", "c"]
    with pytest.raises(Conflict, match="running task"):
        rules.deletion(tree(c("a"), c("b", "a", active=1)), "a", NOW)
    with pytest.raises(Conflict, match="is running"):
        rules.deletion(tree(c("a"), c("b", "a", start="2026-01-01T00:00:00.000Z")), "a", NOW)
    with pytest.raises(Conflict, match="running task"):
        rules.deletion(tree(c("a", active=1)), "a", NOW)


@given(st.lists(st.tuples(st.integers(0, 7), st.integers(0, 8)), max_size=30))
def test_no_sequence_of_accepted_reparents_ever_makes_a_cycle(moves):
    everything = tree(*[c(f"n{i}") for i in range(8)])
    for child, parent in moves:
        target = f"n{parent}" if parent < 8 else None
        try:
            rules.check_parent(everything, f"n{child}", target)
        except Invalid:
            continue
        old = everything[f"n{child}"]
        everything[old.id] = Campaign(old.id, old.name, None, target, None, None, 0, 1, "t", "t")
    for cid in everything:
        chain = rules.ancestors(everything, everything[cid].parent_id)
        assert cid not in chain and len(chain) < rules.MAX_DEPTH
