"""The RFM model's rules: facts from an aggregate, thresholds at their boundary, quintile
scores (range, ties, monotony, agreement of the two-pass cut points with the definition),
segments, selection, and the source's validation paths."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib import schemas
from chalicelib.audiences import rfm
from chalicelib.errors import Invalid
from chalicelib.events.aggregates import Stat

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)
BASE: dict[str, Any] = {"type": "rfm", "purchase_event": "purchase", "amount_property": "amount"}


def source(**extra: Any) -> rfm.RfmSource:
    return rfm.RfmSource.model_validate({**BASE, **extra})


def refusal(data: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(Invalid) as caught:
        schemas.parse(rfm.RfmSource, data, prefix="source")
    return {e.field: e.message for e in caught.value.errors}


# --- facts ------------------------------------------------------------------------------

def test_facts_come_from_the_purchase_aggregate() -> None:
    stat = Stat(count=4, first_at="2026-01-01T00:00:00.000Z", last_at="2026-11-20T13:00:00.000Z", sums={"amount": 250})
    assert rfm.facts_of(stat, "amount", "total", NOW) == rfm.RfmFacts(recency_days=5, frequency=4, monetary=250.0)
    assert rfm.facts_of(stat, "amount", "average", NOW) == rfm.RfmFacts(recency_days=5, frequency=4, monetary=62.5)


def test_recency_counts_whole_days_and_is_never_negative() -> None:
    def recency(last_at: str) -> int:
        facts = rfm.facts_of(Stat(1, last_at, last_at, {}), "amount", "total", NOW)
        assert facts is not None
        return facts.recency_days
    assert recency("2026-11-25T12:00:00.000Z") == 1
    assert recency("2026-11-25T12:00:00.001Z") == 0
    assert recency("2026-11-27T00:00:00.000Z") == 0  # a purchase after as_of


def test_a_user_who_never_purchased_has_no_facts_and_no_segment() -> None:
    assert rfm.facts_of(None, "amount", "total", NOW) is None
    assert rfm.source_facts(source(segments=["general_recovery"]), {"view": Stat(3, "a", "b")}, NOW) is None
    assert rfm.segment_distribution([None, "general_recovery"])["general_recovery"] == 1


def test_purchases_without_the_amount_property_count_as_zero() -> None:
    stat = Stat(count=2, first_at="2026-11-01T00:00:00.000Z", last_at="2026-11-01T00:00:00.000Z", sums={"qty": 3})
    assert rfm.facts_of(stat, "amount", "average", NOW) == rfm.RfmFacts(25, 2, 0.0)


def test_as_of_in_the_source_is_the_day_recency_is_measured_to() -> None:
    s = source(as_of="2026-11-21T00:00:00+08:00", segments=["important_value"])
    stat = Stat(1, "2026-11-10T16:00:00.000Z", "2026-11-10T16:00:00.000Z", {"amount": 1})
    assert rfm.source_facts(s, {"purchase": stat}, NOW) == rfm.RfmFacts(10, 1, 1.0)


# --- thresholds -------------------------------------------------------------------------

THRESHOLDS = rfm.Thresholds(recency_days=30, frequency=3, monetary=100)


def test_thresholds_are_high_exactly_at_the_boundary() -> None:
    assert rfm.levels_by_thresholds(rfm.RfmFacts(30, 3, 100.0), THRESHOLDS) == rfm.Levels(True, True, True)
    assert rfm.levels_by_thresholds(rfm.RfmFacts(31, 2, 99.99), THRESHOLDS) == rfm.Levels(False, False, False)


@pytest.mark.parametrize(("facts", "segment"), [
    (rfm.RfmFacts(1, 5, 500), "important_value"),
    (rfm.RfmFacts(1, 1, 500), "important_development"),
    (rfm.RfmFacts(90, 5, 500), "important_retention"),
    (rfm.RfmFacts(90, 1, 500), "important_recovery"),
    (rfm.RfmFacts(1, 5, 5), "general_value"),
    (rfm.RfmFacts(1, 1, 5), "general_development"),
    (rfm.RfmFacts(90, 5, 5), "general_retention"),
    (rfm.RfmFacts(90, 1, 5), "general_recovery"),
])
def test_each_of_the_eight_segments(facts: rfm.RfmFacts, segment: str) -> None:
    s = source(thresholds=THRESHOLDS.model_dump(), segments=[segment])
    assessment = rfm.assess(facts, s, None)
    assert assessment.segment == segment and assessment.scores is None
    assert rfm.selects(s, assessment)
    assert not rfm.selects(source(thresholds=THRESHOLDS.model_dump(),
                                  segments=[x for x in rfm.SEGMENTS if x != segment]), assessment)


def test_the_distribution_names_all_eight_segments() -> None:
    assert rfm.segment_distribution(["important_value", "important_value"]) == {
        **dict.fromkeys(rfm.SEGMENTS, 0), "important_value": 2}


# --- quintile scores --------------------------------------------------------------------

facts_lists = st.lists(st.builds(rfm.RfmFacts,
                                 st.integers(0, 60), st.integers(1, 12),
                                 st.sampled_from([0.0, 9.99, 10.0, 25.5, 100.0, 1e6]) | st.floats(0, 1e4)),
                       min_size=1, max_size=60)


def _all_scores(facts: list[rfm.RfmFacts]) -> list[rfm.Scores]:
    cuts = rfm.cutpoints(rfm.collect(facts))
    return [rfm.scores(f, cuts) for f in facts]


@given(facts_lists)
def test_scores_are_1_to_5(facts: list[rfm.RfmFacts]) -> None:
    for s in _all_scores(facts):
        assert {s.r, s.f, s.m} <= {1, 2, 3, 4, 5}


@given(facts_lists)
def test_cut_point_scores_equal_the_definition(facts: list[rfm.RfmFacts]) -> None:
    recency = [f.recency_days for f in facts]
    frequency = [f.frequency for f in facts]
    monetary = [f.monetary for f in facts]
    for f, s in zip(facts, _all_scores(facts)):
        assert s.r == rfm.quintile_score(recency, f.recency_days, lower_is_better=True)
        assert s.f == rfm.quintile_score(frequency, f.frequency)
        assert s.m == rfm.quintile_score(monetary, f.monetary)
        worse = sum(1 for v in frequency if v < f.frequency)  # the definition, spelled out
        assert s.f == 1 + (5 * worse) // len(facts)


@given(facts_lists)
def test_equal_values_get_equal_scores_and_better_values_never_lower(facts: list[rfm.RfmFacts]) -> None:
    scored = list(zip(facts, _all_scores(facts)))
    for a, sa in scored:
        for b, sb in scored:
            if a.recency_days <= b.recency_days:
                assert sa.r >= sb.r
            if a.frequency >= b.frequency:
                assert sa.f >= sb.f
            if a.monetary >= b.monetary:
                assert sa.m >= sb.m


@given(facts_lists, st.integers(1, 4))
def test_cut_points_from_merged_parts_equal_those_from_the_whole(facts: list[rfm.RfmFacts], parts: int) -> None:
    merged = rfm.RfmValues()
    for i in range(parts):
        merged = merged.merge(rfm.collect(facts[i::parts]))
    assert rfm.cutpoints(merged) == rfm.cutpoints(rfm.collect(facts))


def test_when_everyone_ties_everyone_scores_1() -> None:
    assert set(_all_scores([rfm.RfmFacts(3, 2, 10.0)] * 7)) == {rfm.Scores(1, 1, 1)}


def test_five_distinct_values_get_scores_1_to_5() -> None:
    facts = [rfm.RfmFacts(50 - 10 * i, i + 1, float(i)) for i in range(5)]
    assert _all_scores(facts) == [rfm.Scores(i + 1, i + 1, i + 1) for i in range(5)]


def test_high_means_a_score_of_at_least_3() -> None:
    # 10 users with frequencies 1..10: 4 are strictly below 5, so 5 scores 1 + 20 // 10 = 3.
    facts = [rfm.RfmFacts(0, f, 0.0) for f in range(1, 11)]
    cuts = rfm.cutpoints(rfm.collect(facts))
    assert cuts.frequency[1] == 5  # score >= 3 from frequency 5
    assert rfm.scores(rfm.RfmFacts(0, 5, 0.0), cuts).f == 3
    assert rfm.scores(rfm.RfmFacts(0, 4, 0.0), cuts).f == 2
    s = source(segments=["important_value"])
    # Everyone ties on R and M, so both are low (score 1) and F alone decides.
    assert rfm.assess(rfm.RfmFacts(0, 5, 0.0), s, cuts).segment == "general_retention"
    assert rfm.assess(rfm.RfmFacts(0, 4, 0.0), s, cuts).segment == "general_recovery"


def test_cut_points_survive_json() -> None:
    cuts = rfm.cutpoints(rfm.collect([rfm.RfmFacts(1, 1, 1.5), rfm.RfmFacts(2, 2, 2.5)]))
    assert rfm.Cutpoints.from_json(cuts.to_json()) == cuts


def test_score_ranges_select_inclusively() -> None:
    s = source(scores={"r": [3, 5], "f": [1, 1]})
    assert rfm.selects(s, rfm.Assessment(rfm.RfmFacts(0, 1, 0), "general_development", rfm.Scores(3, 1, 5)))
    assert not rfm.selects(s, rfm.Assessment(rfm.RfmFacts(0, 1, 0), "general_recovery", rfm.Scores(2, 1, 5)))
    assert not rfm.selects(s, rfm.Assessment(rfm.RfmFacts(0, 1, 0), "general_value", rfm.Scores(5, 2, 5)))


def test_a_source_without_thresholds_needs_cut_points() -> None:
    s = source(segments=["important_value"])
    assert rfm.needs_cutpoints(s)
    with pytest.raises(ValueError):
        rfm.assess(rfm.RfmFacts(0, 1, 0), s, None)


# --- validation -------------------------------------------------------------------------

def test_the_pinned_shape_is_accepted() -> None:
    s = schemas.parse(rfm.RfmSource, {**BASE, "monetary": "average", "as_of": "2026-11-01T00:00:00Z",
                                      "thresholds": {"recency_days": 90, "frequency": 3, "monetary": 100},
                                      "segments": ["important_value", "general_recovery"]})
    assert s.thresholds == rfm.Thresholds(recency_days=90, frequency=3, monetary=100.0)
    assert source(segments=["important_value"]).monetary == "total"


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"thresholds": {"recency_days": 90, "frequency": "3", "monetary": 100}}, "source.thresholds.frequency",
     "JSON number"),
    ({"thresholds": {"recency_days": 90, "frequency": 0, "monetary": 100}}, "source.thresholds.frequency",
     "greater than or equal to 1"),
    ({"thresholds": {"recency_days": -1, "frequency": 3, "monetary": 100}}, "source.thresholds.recency_days",
     "greater than or equal to 0"),
    ({"thresholds": {"recency_days": 9, "frequency": 3}}, "source.thresholds.monetary", "is required"),
    ({"segments": ["vip"]}, "source.segments[0]", "important_value"),
    ({"segments": []}, "source.segments", "at least 1"),
    ({"monetary": "median"}, "source.monetary", "'total' or 'average'"),
    ({"as_of": "yesterday"}, "source.as_of", "ISO-8601"),
    ({"purchase_event": "1buy"}, "source.purchase_event", "an event name is 1-64 characters"),
    ({"segments": None}, "source.segments", "select segments, or score ranges"),
    ({"segments": ["important_value"], "scores": {"r": [1, 2]}}, "source.scores", "not both"),
    ({"segments": None, "scores": {"r": [1, 2]}, "thresholds": {"recency_days": 9, "frequency": 3, "monetary": 1}},
     "source.scores", "remove thresholds"),
    ({"segments": None, "scores": {"r": [0, 2]}}, "source.scores.r", "from 1 to 5"),
    ({"segments": None, "scores": {"f": [4, 2]}}, "source.scores.f", "lo (4) is greater than hi (2)"),
    ({"segments": None, "scores": {"m": [4]}}, "source.scores.m", "two scores"),
    ({"segments": None, "scores": {}}, "source.scores", "at least one of r, f, m"),
    ({"segment": ["important_value"]}, "source.segment", "unknown field"),
])
def test_a_bad_source_is_refused_at_its_path_in_words(change: dict[str, Any], field: str, words: str) -> None:
    data = {**BASE, "segments": ["important_value"], **change}
    data = {k: v for k, v in data.items() if v is not None}
    problems = refusal(data)
    assert field in problems, problems
    assert words in problems[field]
    assert "Error" not in problems[field] and "pydantic" not in problems[field]
