"""The AIPL model: each default stage rule, overrides, the highest stage winning, window
reads only where the aggregates cannot decide, agreement with a naive evaluator over the
full event history, and the source's validation paths."""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import clock, schemas
from chalicelib.audiences import aipl
from chalicelib.errors import Invalid
from chalicelib.events.aggregates import Stat, fold

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
DEFAULTS = aipl.DEFAULT_RULES


def ago(days: float) -> str:
    return clock.iso(NOW - timedelta(days=days))


def history(*events: tuple[str, float]) -> list[tuple[str, str]]:
    """(name, days ago) -> (name, timestamp)."""
    return [(name, ago(days)) for name, days in events]


def stats_of(events: list[tuple[str, str]]) -> dict[str, Stat]:
    by_name: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
    for name, ts in events:
        by_name[name].append((ts, {}))
    out = {}
    for name, evs in by_name.items():
        stat = fold(None, evs)
        assert stat is not None
        out[name] = stat
    return out


def builder_stage(events: list[tuple[str, str]], rules: dict[aipl.Stage, aipl.StageRule] = DEFAULTS) -> aipl.Stage | None:
    """What a builder does: aggregates, then only the window reads asked for."""
    stats = stats_of(events)
    reads = aipl.window_reads(stats, rules, NOW)
    windowed = {name: [ts for n, ts in events if n == name and ts >= since] for name, since in reads.items()}
    return aipl.stage_of(aipl.AiplFacts(stats, windowed), rules, NOW)


def rules_of(overrides: dict[str, Any]) -> dict[aipl.Stage, aipl.StageRule]:
    source = schemas.parse(aipl.AiplSource, {"type": "aipl", "stages": ["loyalty"], "rules": overrides})
    rules: dict[aipl.Stage, aipl.StageRule] = source.effective_rules()
    return rules


# --- the default rules ------------------------------------------------------------------

def test_the_default_rules_are_the_documented_ones() -> None:
    assert {s: r.model_dump() for s, r in DEFAULTS.items()} == {
        "awareness": {"events": "any", "min_count": 1, "within_days": None},
        "interest": {"events": ["view", "click", "add_to_cart"], "min_count": 3, "within_days": 30},
        "purchase": {"events": ["purchase"], "min_count": 1, "within_days": None},
        "loyalty": {"events": ["purchase"], "min_count": 2, "within_days": 90},
    }


def test_a_user_with_no_events_has_no_stage() -> None:
    assert builder_stage([]) is None


def test_awareness_is_any_event_ever() -> None:
    assert builder_stage(history(("signup", 2000))) == "awareness"


def test_interest_is_three_engagements_in_thirty_days_across_the_engagement_events() -> None:
    assert builder_stage(history(("view", 1), ("click", 2), ("add_to_cart", 29))) == "interest"
    assert builder_stage(history(("view", 1), ("view", 2))) == "awareness"
    assert builder_stage(history(("view", 1), ("view", 2), ("view", 31))) == "awareness"
    assert builder_stage(history(("view", 1), ("view", 2), ("signup", 3))) == "awareness"


def test_an_event_exactly_at_the_start_of_the_window_is_inside_it() -> None:
    assert builder_stage(history(("view", 1), ("view", 2), ("view", 30))) == "interest"
    assert builder_stage(history(("view", 1), ("view", 2), ("view", 30.00001))) == "awareness"
    assert builder_stage(history(("purchase", 400), ("purchase", 90), ("purchase", 90))) == "loyalty"
    assert builder_stage(history(("purchase", 90), ("purchase", 90))) == "loyalty"


def test_purchase_is_one_purchase_ever() -> None:
    assert builder_stage(history(("purchase", 400))) == "purchase"
    assert builder_stage(history(("purchase", 400), ("purchase", 91))) == "purchase"


def test_loyalty_is_two_purchases_in_ninety_days() -> None:
    assert builder_stage(history(("purchase", 89), ("purchase", 3))) == "loyalty"
    assert builder_stage(history(("purchase", 400), ("purchase", 80), ("purchase", 3))) == "loyalty"
    assert builder_stage(history(("purchase", 400), ("purchase", 3))) == "purchase"


def test_the_highest_stage_wins_even_when_lower_rules_do_not_hold() -> None:
    # Loyal without a single view in the last 30 days: loyalty, not purchase or awareness.
    assert builder_stage(history(("purchase", 40), ("purchase", 50))) == "loyalty"
    # Engaged and bought once: purchase is higher than interest.
    assert builder_stage(history(("view", 1), ("view", 1), ("view", 1), ("purchase", 200))) == "purchase"


def test_events_after_now_are_not_in_a_window() -> None:
    assert builder_stage(history(("purchase", 3), ("purchase", -1))) == "purchase"


# --- overrides --------------------------------------------------------------------------

def test_an_override_changes_only_the_fields_it_gives() -> None:
    rules = rules_of({"loyalty": {"min_count": 3}})
    assert rules["loyalty"] == aipl.StageRule(events=["purchase"], min_count=3, within_days=90)
    assert rules["interest"] == DEFAULTS["interest"]
    assert builder_stage(history(("purchase", 2), ("purchase", 3)), rules) == "purchase"
    assert builder_stage(history(("purchase", 1), ("purchase", 2), ("purchase", 3)), rules) == "loyalty"


def test_within_days_null_means_ever() -> None:
    rules = rules_of({"loyalty": {"within_days": None}})
    assert builder_stage(history(("purchase", 2000), ("purchase", 1000)), rules) == "loyalty"


def test_interest_events_can_be_the_workspaces_own() -> None:
    rules = rules_of({"interest": {"events": ["app_open"], "min_count": 1, "within_days": 7}})
    assert builder_stage(history(("app_open", 6)), rules) == "interest"
    assert builder_stage(history(("view", 1), ("view", 1), ("view", 1)), rules) == "awareness"


def test_the_purchase_event_can_be_renamed_for_purchase_and_loyalty() -> None:
    rules = rules_of({"purchase": {"events": ["order_paid"]}, "loyalty": {"events": ["order_paid"]}})
    assert builder_stage(history(("order_paid", 300)), rules) == "purchase"
    assert builder_stage(history(("purchase", 3), ("purchase", 4)), rules) == "awareness"


def test_awareness_can_require_a_recent_visit() -> None:
    rules = rules_of({"awareness": {"events": ["visit"], "within_days": 30}})
    assert builder_stage(history(("visit", 45)), rules) is None
    assert builder_stage(history(("visit", 45), ("visit", 5)), rules) == "awareness"


# --- what the builder reads -------------------------------------------------------------

def test_aggregates_alone_decide_most_users() -> None:
    for events in (history(("signup", 900)), history(("purchase", 500)), history(("purchase", 5), ("purchase", 6)),
                   history(("view", 40), ("view", 50), ("view", 60)), history(("view", 1), ("view", 2), ("view", 3))):
        assert aipl.window_reads(stats_of(events), DEFAULTS, NOW) == {}


def test_a_user_active_before_and_inside_a_window_is_read_from_the_window_start() -> None:
    stats = stats_of(history(("purchase", 400), ("purchase", 3)))
    assert aipl.window_reads(stats, DEFAULTS, NOW) == {"purchase": ago(90)}
    stats = stats_of(history(("view", 40), ("view", 1), ("click", 100), ("click", 10), ("add_to_cart", 50)))
    assert aipl.window_reads(stats, DEFAULTS, NOW) == {"view": ago(30), "click": ago(30)}  # no add_to_cart since


def test_reads_stop_at_the_first_stage_the_aggregates_prove() -> None:
    # Loyal by aggregates (both purchases inside 90 days): the mixed views are never read.
    stats = stats_of(history(("purchase", 3), ("purchase", 4), ("view", 40), ("view", 1), ("view", 2)))
    assert aipl.window_reads(stats, DEFAULTS, NOW) == {}


def test_a_missing_window_read_is_a_builder_error() -> None:
    stats = stats_of(history(("purchase", 400), ("purchase", 3)))
    with pytest.raises(aipl.MissingWindow):
        aipl.stage_of(aipl.AiplFacts(stats), DEFAULTS, NOW)


NAMES = ["view", "click", "purchase", "visit"]
# Days ago often exactly at a window's start, where off-by-one mistakes live.
events_strategy = st.lists(st.tuples(st.sampled_from(NAMES), st.sampled_from([0, 1, 7, 30, 90]) | st.integers(-2, 200)),
                           max_size=12)
rule_strategy = st.builds(
    aipl.StageRule,
    events=st.sampled_from(["any", ["view"], ["view", "click"], ["purchase"], ["visit", "purchase"]]),
    min_count=st.integers(1, 4),
    within_days=st.sampled_from([None, 1, 7, 30, 90]),
)


def naive_stage(events: list[tuple[str, str]], rules: dict[aipl.Stage, aipl.StageRule]) -> aipl.Stage | None:
    """The rules read literally over the whole history."""
    for stage in reversed(aipl.STAGES):
        rule = rules[stage]
        count = sum(1 for name, ts in events
                    if (rule.events == "any" or name in rule.events)
                    and (rule.within_days is None or ago(rule.within_days) <= ts <= clock.iso(NOW)))
        if count >= rule.min_count:
            return stage
    return None


@given(events_strategy, st.fixed_dictionaries({s: rule_strategy for s in aipl.STAGES}))
def test_the_builder_agrees_with_a_naive_evaluator_over_the_whole_history(
        raw: list[tuple[str, int]], rules: dict[aipl.Stage, aipl.StageRule]) -> None:
    events = [(name, ago(days)) for name, days in raw]
    assert builder_stage(events, rules) == naive_stage(events, rules)


# --- selection, distribution, validation ------------------------------------------------

def test_an_audience_selects_stages_and_the_distribution_names_all_four() -> None:
    source = schemas.parse(aipl.AiplSource, {"type": "aipl", "stages": ["purchase", "loyalty"]})
    assert aipl.selects(source, "loyalty") and not aipl.selects(source, "interest") and not aipl.selects(source, None)
    assert aipl.stage_distribution(["interest", None, "interest", "loyalty"]) == {
        "awareness": 0, "interest": 2, "purchase": 0, "loyalty": 1}


@pytest.mark.parametrize(("data", "field", "words"), [
    ({"stages": []}, "source.stages", "at least 1"),
    ({"stages": ["lead"]}, "source.stages[0]", "'awareness', 'interest', 'purchase' or 'loyalty'"),
    ({"rules": {"loyal": {}}}, "source.rules.loyal", "unknown field"),
    ({"rules": {"interest": {"events": ["view", "1x"]}}}, "source.rules.interest.events[1]", "an event name is"),
    ({"rules": {"interest": {"events": "all"}}}, "source.rules.interest.events", 'or "any"'),
    ({"rules": {"interest": {"events": []}}}, "source.rules.interest.events", "1 to 20 event names"),
    ({"rules": {"interest": {"events": None}}}, "source.rules.interest.events", "cannot be null"),
    ({"rules": {"loyalty": {"min_count": 0}}}, "source.rules.loyalty.min_count", "greater than or equal to 1"),
    ({"rules": {"loyalty": {"min_count": "2"}}}, "source.rules.loyalty.min_count", "JSON number"),
    ({"rules": {"loyalty": {"within_days": 0}}}, "source.rules.loyalty.within_days", "greater than or equal to 1"),
    ({"rules": {"loyalty": {"days": 9}}}, "source.rules.loyalty.days", "unknown field"),
])
def test_a_bad_source_is_refused_at_its_path_in_words(data: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(Invalid) as caught:
        schemas.parse(aipl.AiplSource, {"type": "aipl", "stages": ["interest"], **data}, prefix="source")
    problems = {e.field: e.message for e in caught.value.errors}
    assert field in problems, problems
    assert words in problems[field]
