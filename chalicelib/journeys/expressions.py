"""The small text forms journey configurations use, checked in words.

* durations: ISO 8601 ``PnW``, ``PnD``, ``PTnH``, ``PTnM``, ``PTnS`` and combinations
  (``P1DT12H``); no years or months (their length varies), at most a year;
* clock times ``HH:MM`` (24 hours);
* schedules of a periodic audience trigger: EventBridge ``rate`` bodies (``"1 day"``,
  ``"6 hours"``, at least an hour) and six-field ``cron`` bodies
  (``"0 9 ? * MON-FRI *"``: minute hour day-of-month month day-of-week year, one of the
  two day fields ``?``), the same syntax ``@app.schedule`` takes.

Each checker returns None when the text is fine, else why not.
"""
from __future__ import annotations

import re
from datetime import timedelta

MAX_DURATION = timedelta(days=366)
MIN_RATE = timedelta(hours=1)
_DURATION = re.compile(r"P(?:(\d{1,4})W)?(?:(\d{1,4})D)?(?:T(?:(\d{1,5})H)?(?:(\d{1,6})M)?(?:(\d{1,7})S)?)?")
_CLOCK = re.compile(r"([01]\d|2[0-3]):([0-5]\d)")
DURATION_WORDS = ("an ISO 8601 duration such as PT30M, PT1H, P1D, P7D or P1DT12H (weeks, days, hours, minutes, "
                  "seconds; no months or years), of at most 366 days")
CLOCK_WORDS = "a clock time HH:MM, 00:00 to 23:59"


def parse_duration(text: object) -> timedelta | None:
    """The duration, or None when ``text`` is not one we take."""
    if not isinstance(text, str) or len(text) > 40:
        return None
    match = _DURATION.fullmatch(text)
    if not match or text in ("P", "PT") or text.endswith("T"):
        return None
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    value = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    if value <= timedelta(0) or value > MAX_DURATION:
        return None
    return value


def duration_problem(text: object) -> str | None:
    return None if parse_duration(text) is not None else f"must be {DURATION_WORDS}"


def clock_problem(text: object) -> str | None:
    return None if isinstance(text, str) and _CLOCK.fullmatch(text) else f"must be {CLOCK_WORDS}"


_RATE = re.compile(r"([1-9]\d{0,4}) (minute|minutes|hour|hours|day|days)")
_UNIT = {"minute": 60, "hour": 3600, "day": 86400}


def rate_problem(text: object) -> str | None:
    words = "a rate such as '1 day', '12 hours' or '90 minutes' (at least an hour)"
    if not isinstance(text, str):
        return f"must be {words}"
    match = _RATE.fullmatch(text)
    if not match:
        return f"must be {words}"
    count, unit = int(match.group(1)), match.group(2).rstrip("s")
    if (count == 1) != (match.group(2) == unit):
        return f"must be {words}: '1 day' is singular, '2 days' plural"
    if timedelta(seconds=count * _UNIT[unit]) < MIN_RATE:
        return "must be at least an hour: a periodic audience trigger re-reads the audience on every run"
    return None


def cron_problem(text: object) -> str | None:
    """What is wrong with a six-field cron body, in words (the shipped evaluator's parse)."""
    from chalicelib.scheduling import cron

    problem = cron.problem(text)
    if problem is None and len(cron.parse(str(text)).minutes) > 1:
        return "must fire at most once an hour (one value in the minute field): a periodic audience trigger " \
               "re-reads the audience on every run"
    return problem