"""The shipped cron evaluator (chalicelib.scheduling.cron) against a brute-force matcher that
reads the expression on its own, minute by minute; EventBridge's L, W and # forms; time
zones across clock changes; and a periodic trigger's next run."""
from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.journeys import expressions, lifecycle
from chalicelib.scheduling import cron

UTC = timezone.utc
MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()


# --- an independent reading of the expression, one minute at a time ---------------------------

def _in_field(text: str, value: int, low: int, high: int, names: list[str]) -> bool:
    def number(t: str) -> int:
        return low + names.index(t.upper()) if t.upper() in names else int(t)

    for part in text.split(","):
        base, _, step = part.partition("/")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first, last = (number(x) for x in base.split("-"))
        else:
            first = number(base)
            last = high if step else first
        if first <= value <= last and (value - first) % int(step or 1) == 0:
            return True
    return False


def brute_day(body: str, day: date) -> bool:
    """The month, year and day fields."""
    _, _, dom, month, dow, year = body.split()
    length = calendar.monthrange(day.year, day.month)[1]
    weekday = (day.weekday() + 1) % 7 + 1  # Python: Monday 0 ... Sunday 6 -> AWS: Sunday 1 ... Saturday 7
    weekdays_of_month = [d for d in range(1, length + 1) if date(day.year, day.month, d).weekday() < 5]
    if not (_in_field(month, day.month, 1, 12, MONTHS) and (year == "*" or _in_field(year, day.year, 1970, 2199, []))):
        return False
    if dom == "L":
        return day.day == length
    if dom == "LW":
        return day.day == weekdays_of_month[-1]
    if dom.endswith("W"):
        n = int(dom[:-1])
        return n <= length and day.day == min(weekdays_of_month, key=lambda d: (abs(d - n), d))
    if dom != "?":
        return _in_field(dom, day.day, 1, 31, [])
    if dow.endswith("L") and dow != "L":
        return weekday == int(dow[:-1]) and day.day > length - 7
    if "#" in dow:
        n, k = (int(x) for x in dow.split("#"))
        return weekday == n and (day.day + 6) // 7 == k
    return _in_field("7" if dow == "L" else dow, weekday, 1, 7, DAYS)


def brute_matches(body: str, t: datetime) -> bool:
    minute, hour = body.split()[:2]
    return _in_field(minute, t.minute, 0, 59, []) and _in_field(hour, t.hour, 0, 23, []) and brute_day(body, t.date())


def brute_next(body: str, after: datetime) -> datetime | None:
    """Every minute after ``after`` in turn, up to the evaluator's horizon (a day whose date
    the day fields refuse is passed over whole)."""
    t = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    limit = t + timedelta(days=366 * cron.HORIZON_YEARS)
    while t < limit:
        if not brute_day(body, t.date()):
            t = t.replace(hour=0, minute=0) + timedelta(days=1)
        elif brute_matches(body, t):
            return t
        else:
            t += timedelta(minutes=1)
    return None


# --- generated expressions ------------------------------------------------------------------

def _list(draw, low: int, high: int, names: list[str] | None = None, max_parts: int = 3) -> str:
    parts = []
    for _ in range(draw(st.integers(1, max_parts))):
        kind = draw(st.sampled_from(["value", "range", "step", "star_step"]))
        a = draw(st.integers(low, high))
        b = draw(st.integers(a, high))
        show = (lambda v: names[v - low] if names and draw(st.booleans()) else str(v))  # noqa: E731
        if kind == "value":
            parts.append(show(a))
        elif kind == "range":
            parts.append(f"{show(a)}-{show(b)}")
        elif kind == "step":
            parts.append(f"{a}/{draw(st.integers(1, max(1, high - low)))}")
        else:
            parts.append(f"*/{draw(st.integers(1, max(1, high - low)))}")
    return ",".join(parts)


@st.composite
def bodies(draw) -> str:
    minute = draw(st.one_of(st.just("*"), st.builds(str, st.integers(0, 59)))) if draw(st.booleans()) \
        else _list(draw, 0, 59)
    hour = draw(st.just("*")) if draw(st.booleans()) else _list(draw, 0, 23)
    month = "*" if draw(st.booleans()) else _list(draw, 1, 12, MONTHS)
    day_kind = draw(st.sampled_from(["dom", "dow", "L", "LW", "W", "nL", "#", "dowL"]))
    dom, dow = "?", "?"
    if day_kind == "dom":
        dom = "*" if draw(st.booleans()) else _list(draw, 1, 31)
    elif day_kind == "dow":
        dow = "*" if draw(st.booleans()) else _list(draw, 1, 7, DAYS)
    elif day_kind in ("L", "LW"):
        dom = day_kind
    elif day_kind == "W":
        dom = f"{draw(st.integers(1, 31))}W"
    elif day_kind == "nL":
        dow = f"{draw(st.integers(1, 7))}L"
    elif day_kind == "#":
        dow = f"{draw(st.integers(1, 7))}#{draw(st.integers(1, 4))}"
    else:
        dow = "L"
    return f"{minute} {hour} {dom} {month} {dow} *"


SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(body=bodies(), moment=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2080, 1, 1)))
def test_the_next_firing_is_the_first_minute_the_brute_force_matcher_accepts(body, moment):
    expected = brute_next(body, moment)
    try:
        fired = cron.parse(body).next_after(moment.replace(tzinfo=UTC)).replace(tzinfo=None)
    except cron.CronError:  # such as 30W in February only: no firing within the horizon
        fired = None
    assert fired == expected, body


@SETTINGS
@given(body=bodies(), minute=st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2080, 1, 1)))
def test_matches_agrees_with_the_brute_force_matcher_on_any_minute(body, minute):
    t = minute.replace(second=0, microsecond=0)
    assert cron.parse(body).matches(t) == brute_matches(body, t), (body, t)


# --- examples -------------------------------------------------------------------------------

@pytest.mark.parametrize("body, after, expected", [
    ("0 9 1W * ? *", datetime(2026, 7, 31), datetime(2026, 8, 3, 9)),     # Aug 1 2026 is a Saturday: Monday the 3rd
    ("0 9 31W * ? *", datetime(2026, 5, 1), datetime(2026, 5, 29, 9)),    # May 31 2026 is a Sunday: Friday the 29th
    ("0 9 31W * ? *", datetime(2026, 6, 1), datetime(2026, 7, 31, 9)),    # June has no 31st
    ("0 9 ? * 2#5 *", datetime(2026, 1, 1), datetime(2026, 3, 30, 9)),    # the first month with five Mondays
    ("0 9 ? * L *", datetime(2026, 1, 1), datetime(2026, 1, 3, 9)),       # L in day-of-week: Saturday
    ("15 10 L FEB ? 2028", datetime(2026, 1, 1), datetime(2028, 2, 29, 10, 15)),
])
def test_the_special_day_forms(body, after, expected):
    assert cron.parse(body).next_after(after.replace(tzinfo=UTC)) == expected.replace(tzinfo=UTC)


@pytest.mark.parametrize("body, words", [
    ("0 9 * * * *", "exactly one of the day-of-month and day-of-week"),
    ("0 9 L,5 * ? *", "day-of-month field takes L"),
    ("0 9 ? * 2#1,3#2 *", "one n#k alone"),
    ("0 9 ? * 2#6 *", "k from 1 to 5"),
    ("0 25 * * ? *", "the hour field takes 0-23"),
    ("0 9 ? FOO ? *", "exactly one"),
    ("0 9 * FOO ? *", "the month field takes 1-12 or names such as JAN-DEC"),
    ("0 9 * * ?", "six fields"),
    ("0 9 5-2 * ? *", "start is after its end"),
])
def test_a_bad_expression_is_refused_in_words(body, words):
    assert words in (cron.problem(body) or "")


def test_a_journey_cron_fires_at_most_once_an_hour():
    assert "at most once an hour" in expressions.cron_problem("0/30 9 * * ? *")
    assert expressions.cron_problem("30 9-17 ? * MON-FRI *") is None


def test_a_cron_is_read_on_the_wall_clock_of_the_time_zone_across_clock_changes():
    new_york = ZoneInfo("America/New_York")
    daily = cron.parse("30 2 * * ? *")
    # 2026-03-08 02:30 does not exist in New York (spring forward): that day does not fire
    fired = daily.next_after(datetime(2026, 3, 7, 12, tzinfo=new_york), tz="America/New_York")
    assert fired == datetime(2026, 3, 9, 2, 30, tzinfo=new_york)
    hourly = cron.parse("30 * * * ? *")
    # 2026-11-01 01:30 happens twice (fall back): it fires once, at the first
    start = datetime(2026, 11, 1, 0, 45, tzinfo=new_york)
    first = hourly.next_after(start, tz="America/New_York")
    second = hourly.next_after(first, tz="America/New_York")
    assert first == datetime(2026, 11, 1, 5, 30, tzinfo=UTC) and second == datetime(2026, 11, 1, 7, 30, tzinfo=UTC)
    nine = cron.parse("0 9 ? * MON-FRI *").next_after(datetime(2026, 11, 30, 0, 0, tzinfo=UTC), tz="Asia/Shanghai")
    assert nine == datetime(2026, 11, 30, 1, 0, tzinfo=UTC)


def test_a_periodic_triggers_next_run_counts_from_the_run_that_fired_and_never_lies_in_the_past():
    fired = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    late = fired + timedelta(minutes=3)
    assert lifecycle.next_run_at({"rate": "1 day"}, fired, late) == fired + timedelta(days=1)
    assert lifecycle.next_run_at({"rate": "1 hour"}, fired, fired + timedelta(hours=5)) == fired + timedelta(hours=6)
    assert lifecycle.next_run_at({"cron": "0 10 ? * MON,WED *"}, fired, late, "Asia/Shanghai") == \
        datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    assert lifecycle.next_run_at({"cron": "0 0 1 1 ? 2020"}, fired, late) is None
    assert lifecycle.next_run_at(None, fired, late) is None

