"""Fatigue control, decided without I/O: how many messages a user may get per channel in a
calendar period of the workspace's time zone, and the quiet hours in which a message is
deferred or dropped.

The cap itself is enforced by a conditional write on a counter (``repo_fatigue``): this
module says which counter (``Slot``) a message must take a place in, and what to answer
when it cannot. Quiet hours are wall-clock times in the workspace's zone; the moment they
end is computed from the zone's rules, so it is right on the nights clocks change.
"""
from __future__ import annotations

import base64
import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Callable, Literal, Union
from zoneinfo import ZoneInfo

Period = Literal["day", "week", "month"]
QuietAction = Literal["defer", "drop"]
PERIODS: tuple[Period, ...] = ("day", "week", "month")
# The message channels (templates, providers and rules use the same names).
MAX_CAP = 100  # the counter stores one 12-character digest per counted message: ~1.3 KB at most
COUNTER_GRACE = timedelta(days=1)  # counters outlive their period by this much (redelivered sends, releases)
DROPPED_FATIGUE = "dropped_fatigue"


@dataclass(frozen=True)
class QuietHours:
    """Local wall-clock times; ``start > end`` means the quiet hours cross midnight."""

    start: time
    end: time

    @classmethod
    def parse(cls, start: str, end: str) -> "QuietHours":
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def text(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True)
class FatigueRule:
    """A workspace's rule for one channel: a cap per period, quiet hours, or both."""

    channel: str
    max_messages: int | None = None
    period: Period | None = None
    quiet_hours: QuietHours | None = None
    quiet_action: QuietAction = "defer"

    @property
    def capped(self) -> bool:
        return self.max_messages is not None and self.period is not None


@dataclass(frozen=True)
class Slot:
    """The counter a message must take a place in before it is sent."""

    channel: str
    period_key: str  # "day#2026-11-26", "week#2026-11-23" (its Monday), "month#2026-11"
    max_messages: int
    expires_at: int  # epoch seconds: the counter's TTL, a day after the period ends

    @property
    def counter_sk(self) -> str:
        return counter_sk(self.channel, self.period_key)


@dataclass(frozen=True)
class Send:
    slot: Slot | None = None  # None: nothing to count (exempt, or no cap on the channel)


@dataclass(frozen=True)
class Drop:
    status: str  # "dropped_fatigue" | "dropped_suppressed"
    reason: str


@dataclass(frozen=True)
class Defer:
    until: datetime  # UTC: the first moment the message may be sent
    reason: str


Decision = Union[Send, Drop, Defer]


def counter_sk(channel: str, period_key: str) -> str:
    return f"fatigue#{channel}#{period_key}"


def message_digest(message_key: str) -> str:
    """What a counter stores for a message: 72 bits of its key's hash, 12 URL-safe
    characters, so a counter at the largest cap stays near 1 KB whatever the keys' length."""
    return base64.urlsafe_b64encode(hashlib.blake2b(message_key.encode(), digest_size=9).digest()).decode()


def _local(now: datetime, tz: str) -> datetime:
    return now.astimezone(ZoneInfo(tz))


def period_start(day: date, period: Period) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # Monday
    return day.replace(day=1)


def _next_period_start(day: date, period: Period) -> date:
    start = period_start(day, period)
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return date(start.year + (start.month == 12), start.month % 12 + 1, 1)


def period_key(now: datetime, tz: str, period: Period) -> str:
    """The calendar period ``now`` falls in, in the zone ``tz``: ``day#2026-11-26``,
    ``week#2026-11-23`` (the Monday the week starts on), ``month#2026-11``."""
    start = period_start(_local(now, tz).date(), period)
    if period == "month":
        return f"month#{start:%Y-%m}"
    return f"{period}#{start.isoformat()}"


def period_end(now: datetime, tz: str, period: Period) -> datetime:
    """The moment (UTC) the period holding ``now`` ends: local midnight starting the next one."""
    return first_moment_at(_next_period_start(_local(now, tz).date(), period), time(0), ZoneInfo(tz))


def _first_second(lo: datetime, hi: datetime, reached: Callable[[datetime], bool]) -> datetime:
    """The first whole UTC second in (lo, hi] at which ``reached`` holds, given it holds
    at ``hi`` and, once it holds, holds until ``hi`` (clock changes fall on whole seconds)."""
    low, high = int(lo.timestamp()), math.ceil(hi.timestamp())
    while high - low > 1:
        mid = (low + high) // 2
        if reached(datetime.fromtimestamp(mid, timezone.utc)):
            high = mid
        else:
            low = mid
    return datetime.fromtimestamp(high, timezone.utc)


def _occurrences(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """The UTC moments at which the local clock first shows ``wall`` on ``day``, or has
    just jumped past it: two when the clocks go back over it, the jump itself when
    they go forward over it."""
    naive = datetime.combine(day, wall)
    found = []
    for fold in (0, 1):
        moment = naive.replace(tzinfo=zone, fold=fold).astimezone(timezone.utc)
        if moment.astimezone(zone).replace(tzinfo=None) == naive:
            found.append(moment)
    if found:
        return sorted(set(found))
    # ``wall`` does not exist that day (clocks went forward over it): the jump is the first
    # moment the clock shows a later time; it lies between the two fold readings.
    lo, hi = sorted(naive.replace(tzinfo=zone, fold=f).astimezone(timezone.utc) for f in (0, 1))
    return [_first_second(lo, hi, lambda t: t.astimezone(zone).replace(tzinfo=None) >= naive)]


def first_moment_at(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """The first UTC moment at which the local clock on ``day`` reads ``wall`` or later."""
    return _occurrences(day, wall, zone)[0]


def in_quiet_hours(now: datetime, tz: str, qh: QuietHours) -> bool:
    """Whether the workspace's wall clock at ``now`` is inside the quiet hours [start, end)."""
    wall = _local(now, tz).time().replace(tzinfo=None)
    if qh.start < qh.end:
        return qh.start <= wall < qh.end
    if qh.start > qh.end:  # across midnight
        return wall >= qh.start or wall < qh.end
    return False


def quiet_hours_end(now: datetime, tz: str, qh: QuietHours) -> datetime:
    """The next moment (UTC) sending may resume: ``now`` itself outside quiet hours, else
    the first moment at or after ``now`` when the wall clock reaches ``end`` (or jumps
    past it, on a night the clocks go forward)."""
    if not in_quiet_hours(now, tz, qh):
        return now
    zone = ZoneInfo(tz)
    today = _local(now, tz).date()
    resume = min(moment for offset in range(-1, 3) for moment in _occurrences(today + timedelta(days=offset), qh.end, zone)
                 if moment > now and not in_quiet_hours(moment, tz, qh))
    # Clocks going back can also take the wall clock out of the quiet hours (back before
    # ``start``) before it reaches ``end``: the change itself is then the resume moment.
    before = now.astimezone(zone).utcoffset()
    if (resume - timedelta(seconds=1)).astimezone(zone).utcoffset() != before:
        change = _first_second(now, resume, lambda t: t.astimezone(zone).utcoffset() != before)
        if change < resume and not in_quiet_hours(change, tz, qh):
            return change
    return resume


def admit(rule: FatigueRule | None, *, now: datetime, tz: str, exempt: bool = False) -> Decision:
    """Send (taking a place in ``slot``, if any), drop or defer a message under ``rule``.
    Exempt (transactional) messages and channels without a rule are sent uncounted."""
    if rule is None or exempt:
        return Send()
    if rule.quiet_hours is not None and in_quiet_hours(now, tz, rule.quiet_hours):
        reason = f"quiet hours {rule.quiet_hours.text()} ({tz})"
        if rule.quiet_action == "drop":
            return Drop(DROPPED_FATIGUE, reason)
        return Defer(quiet_hours_end(now, tz, rule.quiet_hours), reason)
    if rule.capped:
        assert rule.max_messages is not None and rule.period is not None
        end = period_end(now, tz, rule.period)
        return Send(Slot(rule.channel, period_key(now, tz, rule.period), rule.max_messages,
                         int((end + COUNTER_GRACE).timestamp())))
    return Send()


def over_cap(slot: Slot, period: str | None = None) -> Drop:
    """The answer for a message whose counter is full."""
    kind = period or slot.period_key.split("#", 1)[0]
    return Drop(DROPPED_FATIGUE, f"at most {slot.max_messages} {slot.channel} messages per {kind} ({slot.period_key})")


SlotState = Literal["counted", "full", "open"]


def slot_state(slot: Slot, counted: frozenset[str] | None, message_key: str) -> SlotState:
    """What a counter read says about a message: already counted (a redelivery), full, or
    open (take a place with the conditional write, which alone decides under races)."""
    keys = counted or frozenset()
    if message_digest(message_key) in keys:
        return "counted"
    if len(keys) >= slot.max_messages:
        return "full"
    return "open"
