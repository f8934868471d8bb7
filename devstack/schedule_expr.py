"""EventBridge schedule expressions: ``rate(N unit)`` and ``cron(min hour dom month dow year)``.

Enough of the AWS syntax to fire ``@app.schedule`` functions locally: numbers, ``*``,
``?``, lists, ranges, steps and month/day names. ``L``, ``W`` and ``#`` are refused with
a clear error rather than silently misread.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

_MONTHS = {m: i for i, m in enumerate("JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split(), 1)}
_DAYS = {d: i for i, d in enumerate("SUN MON TUE WED THU FRI SAT".split(), 1)}  # AWS: 1 = Sunday
_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, moment: datetime, anchor: datetime) -> datetime:
        elapsed = (moment - anchor).total_seconds()
        periods = int(elapsed // self.seconds) + 1 if elapsed >= 0 else 0
        return anchor + timedelta(seconds=periods * self.seconds)


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None      # day of month; None = '?'
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1 = Sunday; None = '?'
    years: frozenset[int] | None

    def _day_matches(self, day: datetime) -> bool:
        weekday = (day.isoweekday() % 7) + 1  # Monday=1 in ISO -> 2 in AWS; Sunday=7 -> 1
        dom_ok = self.days is None or day.day in self.days
        dow_ok = self.weekdays is None or weekday in self.weekdays
        return dom_ok and dow_ok

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime:
        t = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * 5)
        while t < limit:
            if self.years is not None and t.year not in self.years:
                t = t.replace(year=t.year + 1, month=1, day=1, hour=0, minute=0)
            elif t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise ValueError("the cron expression never fires in the next five years")


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    values: set[int] = set()
    for part in text.upper().split(","):
        if names:
            part = re.sub(r"[A-Z]{3}", lambda m: str(names.get(m.group(), m.group())), part)
        if re.search(r"[LW#]", part):
            raise ValueError(f"cron: {part!r} (L, W and #) is not supported locally")
        step = 1
        stepped = "/" in part
        if stepped:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part in ("*", ""):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _value(a, names), _value(b, names)
        else:
            start = _value(part, names)
            end = high if stepped else start
        if not (low <= start <= high and low <= end <= high):
            raise ValueError(f"cron: {text!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _value(text: str, names: dict[str, int] | None) -> int:
    if names and text in names:
        return names[text]
    return int(text)


def parse(expression: str) -> Rate | Cron:
    match = re.fullmatch(r"rate\((\d+)\s+(\w+)\)", expression.strip())
    if match:
        n, unit = int(match.group(1)), match.group(2)
        if unit not in _UNITS or n < 1:
            raise ValueError(f"bad rate expression {expression!r}")
        return Rate(n * _UNITS[unit])
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match:
        raise ValueError(f"not a schedule expression: {expression!r}")
    fields = match.group(1).split()
    if len(fields) != 6:
        raise ValueError("cron needs six fields: minutes hours day-of-month month day-of-week year")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise ValueError("cron: exactly one of day-of-month and day-of-week must be '?'")
    return Cron(
        minutes=_field(minute, 0, 59), hours=_field(hour, 0, 23),
        days=None if dom == "?" else _field(dom, 1, 31), months=_field(month, 1, 12, _MONTHS),
        weekdays=None if dow == "?" else _field(dow, 1, 7, _DAYS),
        years=None if year == "*" else _field(year, 1970, 2199),
    )

