"""EventBridge cron expressions, pure: parse the six fields and find the next firing.

``minute hour day-of-month month day-of-week year`` as EventBridge documents them
(docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html): numbers,
``*``, ``?`` (in exactly one of the two day fields), lists ``a,b``, ranges ``a-b``, steps
``a/n`` and ``a-b/n`` and ``*/n``, month names JAN-DEC and day names SUN-SAT (1 = Sunday);
in the day-of-month field ``L`` (the last day of the month), ``LW`` (its last weekday) and
``nW`` (the weekday nearest day n, within the month); in the day-of-week field ``L`` (the
last day of the week, Saturday), ``nL`` (the last day n of the month: ``6L`` the last
Friday) and ``n#k`` (the k-th day n of the month: ``3#2`` the second Tuesday). Like
EventBridge, ``L``, ``W`` and ``#`` forms stand alone in their field.

``next_after`` evaluates the fields on the wall clock of a time zone (IANA name): a local
time the clock skips (spring forward) does not fire, a local time it passes twice (fall
back) fires once, at its first passing. The local stack's scheduler (UTC) and journeys'
periodic triggers (the workspace's zone) share this code.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

MONTHS = "JAN FEB MAR APR MAY JUN JUL AUG SEP OCT NOV DEC".split()
DAYS = "SUN MON TUE WED THU FRI SAT".split()
WORDS = ("a cron schedule of six fields, 'minute hour day-of-month month day-of-week year', "
         "such as '0 9 ? * MON-FRI *' (one of the two day fields is '?')")
HORIZON_YEARS = 5


class CronError(ValueError):
    """A cron expression we cannot use; the message is in words for a client."""


@dataclass(frozen=True)
class Cron:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None      # day of month; None: '?' or a special form below
    months: frozenset[int]
    weekdays: frozenset[int] | None  # 1 = Sunday; None: '?' or a special form below
    years: frozenset[int] | None     # None: every year
    last_day: bool = False           # day-of-month L
    last_weekday: bool = False       # day-of-month LW
    nearest_weekday: int | None = None      # day-of-month nW
    last_of_month: int | None = None        # day-of-week nL: the last such day of the month
    nth_of_month: tuple[int, int] | None = None  # day-of-week n#k: (n, k)

    def day_matches(self, day: date) -> bool:
        """Whether the day fields allow this date."""
        length = calendar.monthrange(day.year, day.month)[1]
        weekday = day.isoweekday() % 7 + 1  # AWS: 1 = Sunday ... 7 = Saturday
        if self.days is not None and day.day not in self.days:
            return False
        if self.weekdays is not None and weekday not in self.weekdays:
            return False
        if self.last_day and day.day != length:
            return False
        if self.last_weekday and day != _last_weekday(day.year, day.month):
            return False
        if self.nearest_weekday is not None and day.day != _nearest_weekday(day.year, day.month,
                                                                            self.nearest_weekday):
            return False
        if self.last_of_month is not None and (weekday != self.last_of_month or day.day + 7 <= length):
            return False
        if self.nth_of_month is not None and (weekday != self.nth_of_month[0]
                                              or (day.day - 1) // 7 + 1 != self.nth_of_month[1]):
            return False
        return True

    def matches(self, wall: datetime) -> bool:
        """Whether a wall-clock minute fires."""
        return (wall.minute in self.minutes and wall.hour in self.hours and wall.month in self.months
                and (self.years is None or wall.year in self.years) and self.day_matches(wall.date()))

    def next_wall(self, after: datetime) -> datetime:
        """The first wall-clock minute after ``after`` (naive) that fires."""
        t = after.replace(second=0, microsecond=0, tzinfo=None) + timedelta(minutes=1)
        limit = t + timedelta(days=366 * HORIZON_YEARS)
        while t < limit:
            if self.years is not None and t.year not in self.years:
                later = [y for y in self.years if y > t.year]
                if not later:
                    break
                t = datetime(min(later), 1, 1)
            elif t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + timedelta(days=32)).replace(day=1)
            elif not self.day_matches(t.date()):
                t = t.replace(hour=0, minute=0) + timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += timedelta(minutes=1)
            else:
                return t
        raise CronError(f"the cron schedule never fires in the next {HORIZON_YEARS} years")

    def next_after(self, moment: datetime, anchor: datetime | None = None, tz: str = "UTC") -> datetime:
        """The first firing after ``moment`` (aware), on the wall clock of ``tz``; aware, in UTC.
        (``anchor`` is ignored: a cron schedule has none; a rate's signature takes one.)"""
        zone = ZoneInfo(tz)
        wall = moment.astimezone(zone).replace(tzinfo=None)
        for _ in range(10_000):
            wall = self.next_wall(wall)
            local = wall.replace(tzinfo=zone)
            if local.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) != wall:
                continue  # skipped by a clock change
            fired = local.astimezone(timezone.utc)
            if fired > moment:
                return fired
        raise CronError("the cron schedule never fires")


def _last_weekday(year: int, month: int) -> date:
    day = date(year, month, calendar.monthrange(year, month)[1])
    while day.isoweekday() > 5:
        day -= timedelta(days=1)
    return day


def _nearest_weekday(year: int, month: int, n: int) -> int | None:
    """The weekday nearest day n that is in the same month (None: the month has no day n)."""
    length = calendar.monthrange(year, month)[1]
    if n > length:
        return None
    weekday = date(year, month, n).isoweekday()
    if weekday == 6:  # Saturday: the Friday before, or the Monday after on the 1st
        return n - 1 if n > 1 else n + 2
    if weekday == 7:  # Sunday: the Monday after, or the Friday before on the last day
        return n + 1 if n < length else n - 2
    return n


# --- parsing --------------------------------------------------------------------------------

_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day-of-month", 1, 31, ()),
           ("month", 1, 12, MONTHS), ("day-of-week", 1, 7, DAYS), ("year", 1970, 2199, ()))


def _number(text: str, name: str, low: int, high: int, names: tuple[str, ...] | list[str]) -> int:
    upper = text.upper()
    if upper in names:
        return low + list(names).index(upper)
    if not (text.isdigit() and len(text) <= 4) or not low <= int(text) <= high:
        hint = f" or names such as {names[0]}-{names[-1]}" if names else ""
        raise CronError(f"the {name} field takes {low}-{high}{hint}, lists (a,b), ranges (a-b) and steps (a/n)")
    return int(text)


def _values(text: str, name: str, low: int, high: int, names: tuple[str, ...] | list[str]) -> frozenset[int]:
    out: set[int] = set()
    for part in text.split(","):
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not (step_text.isdigit() and 1 <= int(step_text) <= high):
                raise CronError(f"the {name} field has a step that is not a number from 1 to {high}")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start, end = _number(first, name, low, high, names), _number(last, name, low, high, names)
            if start > end:
                raise CronError(f"the {name} field has a range whose start is after its end")
        else:
            start = _number(base, name, low, high, names)
            end = high if slash else start
        out.update(range(start, end + 1, step))
    return frozenset(out)


def parse(body: str) -> Cron:
    """A six-field cron body (what goes inside ``cron(...)``); raises CronError in words."""
    if not isinstance(body, str) or len(body) > 200:
        raise CronError(f"must be {WORDS}")
    fields = body.split()
    if len(fields) != 6:
        raise CronError(f"must be {WORDS}")
    minute, hour, dom, month, dow, year = fields
    if (dom == "?") == (dow == "?"):
        raise CronError("exactly one of the day-of-month and day-of-week fields must be '?'")
    special: dict[str, object] = {}
    days: frozenset[int] | None = None
    weekdays: frozenset[int] | None = None
    upper_dom, upper_dow = dom.upper(), dow.upper()
    if upper_dom == "L":
        special["last_day"] = True
    elif upper_dom == "LW":
        special["last_weekday"] = True
    elif upper_dom.endswith("W") and upper_dom[:-1].isdigit():
        special["nearest_weekday"] = _number(upper_dom[:-1], "day-of-month", 1, 31, ())
    elif any(c in upper_dom for c in "LW#"):
        raise CronError("the day-of-month field takes L, LW or nW (such as 15W) alone, not in a list or range")
    elif dom != "?":
        days = _values(dom, "day-of-month", 1, 31, ())
    if upper_dow == "L":
        weekdays = frozenset({7})
    elif upper_dow.endswith("L") and "," not in upper_dow and "-" not in upper_dow:
        special["last_of_month"] = _number(upper_dow[:-1], "day-of-week", 1, 7, DAYS)
    elif "#" in upper_dow:
        day, _, nth = upper_dow.partition("#")
        if "," in upper_dow or "-" in upper_dow or not (nth.isdigit() and 1 <= int(nth) <= 5):
            raise CronError("the day-of-week field takes one n#k alone, such as 3#2 (the second Tuesday), "
                            "k from 1 to 5")
        special["nth_of_month"] = (_number(day, "day-of-week", 1, 7, DAYS), int(nth))
    elif "W" in upper_dow.replace("WED", "") or "L" in upper_dow:
        raise CronError("the day-of-week field takes L, nL (such as 6L, the last Friday) or n#k alone")
    elif dow != "?":
        weekdays = _values(dow, "day-of-week", 1, 7, DAYS)
    return Cron(minutes=_values(minute, "minute", 0, 59, ()), hours=_values(hour, "hour", 0, 23, ()),
                days=days, months=_values(month, "month", 1, 12, MONTHS), weekdays=weekdays,
                years=None if year == "*" else _values(year, "year", 1970, 2199, ()),
                **special)  # type: ignore[arg-type]


def problem(body: object) -> str | None:
    """What is wrong with a cron body, in words (None: nothing)."""
    try:
        parse(body)  # type: ignore[arg-type]
    except CronError as error:
        return str(error)
    return None
