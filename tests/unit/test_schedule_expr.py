"""EventBridge schedule expressions, as the local scheduler reads them."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from devstack.schedule_expr import Cron, Rate, parse

UTC = timezone.utc
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def firings(expression: str, start: datetime, n: int) -> list[datetime]:
    schedule, times, t = parse(expression), [], start
    for _ in range(n):
        t = schedule.next_after(t)
        times.append(t)
    return times


def aws_weekday(moment: datetime) -> int:
    return moment.isoweekday() % 7 + 1  # AWS: 1 = Sunday ... 7 = Saturday


# rate(...)

@pytest.mark.parametrize("expression, seconds", [
    ("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(1 hour)", 3600),
    ("rate(12 hours)", 43_200), ("rate(1 day)", 86_400), ("rate(7 days)", 604_800), ("  rate(2 minutes) ", 120),
])
def test_a_rate_is_parsed_into_seconds(expression, seconds):
    assert parse(expression) == Rate(seconds)


@pytest.mark.parametrize("expression", [
    "rate(0 minutes)", "rate(5 seconds)", "rate(1 week)", "rate(1.5 hours)", "rate(-1 minutes)", "rate(minutes)",
    "rate(5)", "rate 5 minutes", "every 5 minutes", "",
])
def test_a_bad_rate_is_refused(expression):
    with pytest.raises(ValueError):
        parse(expression)


def test_a_rate_fires_a_period_after_its_anchor_and_every_period_after():
    anchor = at(2026, 1, 1, 0, 0)
    rate = parse("rate(15 minutes)")

    assert rate.next_after(anchor, anchor) == at(2026, 1, 1, 0, 15)
    assert rate.next_after(at(2026, 1, 1, 0, 14, 59), anchor) == at(2026, 1, 1, 0, 15)
    assert rate.next_after(at(2026, 1, 1, 0, 15), anchor) == at(2026, 1, 1, 0, 30)
    assert rate.next_after(at(2026, 1, 1, 10, 7), anchor) == at(2026, 1, 1, 10, 15)


@SETTINGS
@given(
    seconds=st.sampled_from([60, 300, 900, 3600, 7200, 86_400, 604_800]),
    anchor=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2050, 1, 1), timezones=st.just(UTC)),
    elapsed=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=3650)),
)
def test_a_rate_fires_after_the_moment_and_within_one_period(seconds, anchor, elapsed):
    moment = anchor + elapsed

    fired = Rate(seconds).next_after(moment, anchor)

    assert moment < fired <= moment + timedelta(seconds=seconds)
    assert (fired - anchor) % timedelta(seconds=seconds) == timedelta(0)


# cron(...)

def test_a_daily_cron_fires_at_noon_utc_every_day():
    assert firings("cron(0 12 * * ? *)", at(2026, 2, 27, 12, 0), 3) == [
        at(2026, 2, 28, 12, 0), at(2026, 3, 1, 12, 0), at(2026, 3, 2, 12, 0)]


def test_a_daily_cron_fires_the_same_day_when_the_time_is_still_ahead():
    assert parse("cron(0 12 * * ? *)").next_after(at(2026, 5, 4, 11, 59, 59)) == at(2026, 5, 4, 12, 0)


def test_a_step_cron_fires_every_fifteen_minutes():
    assert firings("cron(0/15 * * * ? *)", at(2026, 1, 1, 23, 31, 10), 4) == [
        at(2026, 1, 1, 23, 45), at(2026, 1, 2, 0, 0), at(2026, 1, 2, 0, 15), at(2026, 1, 2, 0, 30)]


def test_a_weekday_cron_skips_the_weekend():
    # 2026-01-02 is a Friday.
    fired = firings("cron(0 9 ? * MON-FRI *)", at(2026, 1, 2, 9, 0), 6)

    assert fired == [at(2026, 1, 5, 9), at(2026, 1, 6, 9), at(2026, 1, 7, 9), at(2026, 1, 8, 9), at(2026, 1, 9, 9),
                     at(2026, 1, 12, 9)]


def test_day_of_week_counts_sunday_as_one():
    assert parse("cron(0 0 ? * 1 *)").next_after(at(2026, 1, 1)) == at(2026, 1, 4)   # Sunday
    assert parse("cron(0 0 ? * 7 *)").next_after(at(2026, 1, 1)) == at(2026, 1, 3)   # Saturday
    assert parse("cron(0 0 ? * SUN *)") == parse("cron(0 0 ? * 1 *)")


def test_a_yearly_cron_fires_once_a_year():
    assert firings("cron(0 0 1 JAN ? *)", at(2026, 1, 1, 0, 0), 3) == [at(2027, 1, 1), at(2028, 1, 1), at(2029, 1, 1)]


def test_a_cron_limited_to_a_year_fires_only_in_that_year():
    cron = parse("cron(30 6 15 * ? 2027)")

    assert cron.next_after(at(2026, 6, 1)) == at(2027, 1, 15, 6, 30)
    with pytest.raises(ValueError):
        cron.next_after(at(2027, 12, 15, 6, 30))


def test_a_cron_on_the_31st_skips_shorter_months():
    assert firings("cron(0 0 31 * ? *)", at(2026, 1, 31), 2) == [at(2026, 3, 31), at(2026, 5, 31)]


def test_a_leap_day_cron_waits_for_a_leap_year():
    assert parse("cron(0 0 29 FEB ? *)").next_after(at(2026, 1, 1)) == at(2028, 2, 29)


def test_lists_ranges_and_names_are_read():
    cron = parse("cron(0,30 8-10 ? JAN,MAR-APR MON,FRI *)")

    assert cron == Cron(minutes=frozenset({0, 30}), hours=frozenset({8, 9, 10}), days=None,
                        months=frozenset({1, 3, 4}), weekdays=frozenset({2, 6}), years=None)


@pytest.mark.parametrize("expression, weekdays", [
    ("cron(0 9 ? * MON-WED *)", {2, 3, 4}), ("cron(0 9 ? * WED-FRI *)", {4, 5, 6}), ("cron(0 9 ? * wed *)", {4}),
])
def test_day_names_containing_w_are_day_names_in_ranges_too(expression, weekdays):
    assert parse(expression).weekdays == frozenset(weekdays)


@pytest.mark.parametrize("expression, months", [
    ("cron(0 0 1 JUN-AUG ? *)", {6, 7, 8}), ("cron(0 0 1 JUL-SEP ? *)", {7, 8, 9}), ("cron(0 0 1 JUL ? *)", {7}),
])
def test_month_names_containing_l_are_month_names_in_ranges_too(expression, months):
    assert parse(expression).months == frozenset(months)


@pytest.mark.parametrize("expression, first", [  # after 2026-01-01; January 2026 starts on a Thursday
    ("cron(0 0 L * ? *)", at(2026, 1, 31)), ("cron(0 0 17W * ? *)", at(2026, 1, 16)),
    ("cron(0 0 ? * 6L *)", at(2026, 1, 30)), ("cron(0 0 ? * MON#2 *)", at(2026, 1, 12)),
    ("cron(0 0 LW * ? *)", at(2026, 1, 30)),
])
def test_last_weekday_and_nth_forms_are_read_as_eventbridge_documents_them(expression, first):
    assert parse(expression).next_after(at(2026, 1, 1)) == first


@pytest.mark.parametrize("expression", ["cron(0 12 ? * ? *)", "cron(0 12 * * * *)", "cron(0 12 1 * MON *)"])
def test_exactly_one_of_day_of_month_and_day_of_week_must_be_a_question_mark(expression):
    with pytest.raises(ValueError, match="exactly one"):
        parse(expression)


@pytest.mark.parametrize("expression", ["cron(0 12 * * ?)", "cron(0 12 * * ? * *)", "cron()", "cron(0)"])
def test_a_cron_needs_six_fields(expression):
    with pytest.raises(ValueError):
        parse(expression)


@pytest.mark.parametrize("expression", [
    "cron(60 * * * ? *)", "cron(0 24 * * ? *)", "cron(0 0 0 * ? *)", "cron(0 0 32 * ? *)", "cron(0 0 1 13 ? *)",
    "cron(0 0 ? * 8 *)", "cron(0 0 1 * ? 1969)", "cron(0 0 1 FOO ? *)", "cron(x 0 1 * ? *)",
])
def test_values_outside_a_fields_range_are_refused(expression):
    with pytest.raises(ValueError):
        parse(expression)


def field_sets(low: int, high: int, max_size: int = 4):
    return st.frozensets(st.integers(low, high), min_size=1, max_size=max_size)


@st.composite
def crons(draw):
    minutes = draw(field_sets(0, 59, 6))
    hours = draw(field_sets(0, 23, 6))
    months = draw(field_sets(1, 12, 6))
    if draw(st.booleans()):
        days, weekdays = draw(field_sets(1, 28, 6)), None   # 1-28: every month has them
    else:
        days, weekdays = None, draw(field_sets(1, 7, 4))
    text = lambda values: ",".join(map(str, sorted(values)))  # noqa: E731
    expression = "cron({} {} {} {} {} *)".format(
        text(minutes), text(hours), "?" if days is None else text(days), text(months),
        "?" if weekdays is None else text(weekdays))
    return expression, Cron(minutes, hours, days, months, weekdays, None)


@SETTINGS
@given(cron=crons(), moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1),
                                          timezones=st.just(UTC)))
def test_a_cron_fires_after_the_moment_at_a_minute_its_fields_allow(cron, moment):
    expression, fields = cron

    fired = parse(expression).next_after(moment)

    assert parse(expression) == fields
    assert fired > moment
    assert fired.second == 0 and fired.microsecond == 0
    assert fired.minute in fields.minutes and fired.hour in fields.hours and fired.month in fields.months
    assert fields.days is None or fired.day in fields.days
    assert fields.weekdays is None or aws_weekday(fired) in fields.weekdays


@SETTINGS
@given(minutes=field_sets(0, 59, 6), hours=field_sets(0, 23, 6), weekdays=field_sets(1, 7, 7),
       moment=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)))
def test_a_cron_fires_at_the_first_allowed_minute_after_the_moment(minutes, hours, weekdays, moment):
    cron = Cron(minutes, hours, None, frozenset(range(1, 13)), weekdays, None)

    fired = cron.next_after(moment)

    t = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    while t < fired:
        assert not (t.minute in minutes and t.hour in hours and aws_weekday(t) in weekdays), t
        t += timedelta(minutes=1)


def test_a_start_with_a_step_runs_to_the_top_of_the_range():
    cron = parse("cron(5/1 * * * ? *)")
    assert cron.minutes == frozenset(range(5, 60))
