"""Per-user event aggregates: fold is a commutative, associative summary of events."""
from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from chalicelib import clock
from chalicelib.events.aggregates import MAX_SUMMED_PROPERTIES, Stat, fold

PROPERTY_NAMES = ("amount", "quantity", "discount")

timestamps = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(timezone.utc),
).map(clock.iso)
amounts = st.one_of(
    st.integers(min_value=0, max_value=10_000),
    st.integers(min_value=0, max_value=1_000_000).map(lambda cents: cents / 100),  # 2-decimal amounts
)
properties = st.dictionaries(
    st.sampled_from(PROPERTY_NAMES + ("label", "vip")),
    st.one_of(amounts, st.booleans(), st.text(max_size=5)),
    max_size=4,
)


def examples(n: int) -> hypothesis_settings:
    return hypothesis_settings(max_examples=n, deadline=None, suppress_health_check=[HealthCheck.too_slow])


events = st.lists(st.tuples(timestamps, properties), min_size=1, max_size=20)


@examples(200)
@given(events=events, data=st.data())
def test_fold_is_independent_of_event_order(events, data):
    shuffled = data.draw(st.permutations(events))

    in_order, reordered = fold(None, events), fold(None, shuffled)

    assert reordered == in_order


@examples(200)
@given(events=events, data=st.data())
def test_folding_a_prefix_then_the_rest_equals_folding_all_at_once(events, data):
    split = data.draw(st.integers(min_value=0, max_value=len(events)))

    in_two_steps = fold(fold(None, events[:split]), events[split:])

    assert in_two_steps == fold(None, events)


@examples(100)
@given(a=events, b=events, c=events)
def test_fold_is_associative_over_three_batches(a, b, c):
    left = fold(fold(fold(None, a), b), c)

    right = fold(fold(None, a), b + c)

    assert left == right == fold(None, a + b + c)


@examples(200)
@given(events=events)
def test_fold_counts_events_and_keeps_the_earliest_and_latest_times(events):
    stat = fold(None, events)

    assert stat.count == len(events)
    assert stat.first_at == min(ts for ts, _ in events)
    assert stat.last_at == max(ts for ts, _ in events)


def test_fold_of_no_events_onto_nothing_is_nothing():
    assert fold(None, []) is None


def test_fold_of_no_events_keeps_the_existing_stat():
    stat = Stat(count=2, first_at="2026-01-01T00:00:00.000Z", last_at="2026-01-02T00:00:00.000Z", sums={"amount": 5})

    assert fold(stat, []) == stat


def test_money_sums_exactly():
    stat = fold(None, [("2026-01-01T00:00:00.000Z", {"amount": 0.1}), ("2026-01-01T00:00:01.000Z", {"amount": 0.2})])

    assert stat.sums == {"amount": 0.3}


def test_sums_of_whole_amounts_are_integers():
    stat = fold(None, [("2026-01-01T00:00:00.000Z", {"amount": 0.5}), ("2026-01-01T00:00:01.000Z", {"amount": 1.5})])

    assert stat.sums["amount"] == 2
    assert isinstance(stat.sums["amount"], int)


def test_booleans_and_strings_are_not_summed():
    stat = fold(None, [("2026-01-01T00:00:00.000Z", {"vip": True, "label": "gold", "amount": 3})])

    assert stat.sums == {"amount": 3}


def test_an_existing_stat_is_extended_not_replaced():
    before = Stat(count=3, first_at="2026-01-02T00:00:00.000Z", last_at="2026-01-03T00:00:00.000Z", sums={"amount": 10})

    after = fold(before, [("2026-01-01T00:00:00.000Z", {"amount": 2.5}), ("2026-01-04T00:00:00.000Z", {"quantity": 1})])

    assert after == Stat(count=5, first_at="2026-01-01T00:00:00.000Z", last_at="2026-01-04T00:00:00.000Z",
                         sums={"amount": 12.5, "quantity": 1})
    assert before.sums == {"amount": 10}


def test_no_more_than_the_cap_of_property_names_is_summed_but_known_names_keep_adding():
    full = {f"p{i}": 1 for i in range(MAX_SUMMED_PROPERTIES)}
    stat = fold(None, [("2026-01-01T00:00:00.000Z", full)])

    after = fold(stat, [("2026-01-01T00:00:01.000Z", {"p0": 1, "one_too_many": 7})])

    assert len(after.sums) == MAX_SUMMED_PROPERTIES
    assert "one_too_many" not in after.sums
    assert after.sums["p0"] == 2


def test_a_sum_beyond_what_dynamodb_stores_stays_where_it_was():
    from chalicelib import storable

    big = 9e125
    stat = fold(None, [("2026-01-01T00:00:00.000Z", {"amount": big, "n": 1}),
                       ("2026-01-02T00:00:00.000Z", {"amount": big, "n": 1})])

    assert stat.count == 2 and stat.sums == {"amount": 9 * 10**125, "n": 2}  # the first one only
    assert all(storable.number_problem(v) is None for v in stat.sums.values())
