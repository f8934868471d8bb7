"""What the analytics routes show, from counter buckets: pure, no I/O.

Totals are the sum of an owner's hourly buckets; the daily series regroups the hours into
days of the workspace's time zone (an hour belongs to the local day its start falls on:
exact for whole-hour offsets, at most 45 minutes early for zones such as Asia/Kolkata
or Asia/Kathmandu); rates divide counters and are None when the denominator is 0.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.counters.counting import FIELDS, total
from chalicelib.counters.repo import Bucket

PINNED = ("targeted", "sent", "delivered", "failed", "opened", "clicked", "unique_clicks", "dropped_fatigue",
          "dropped_suppressed", "cost")
MAX_DAYS = 366


def counts(values: Mapping[str, float]) -> dict[str, float | int]:
    """Every counter, integers as integers (``cost`` stays a number of the provider's unit)."""
    return {name: (round(values.get(name, 0), 6) if name == "cost" else int(values.get(name, 0))) for name in FIELDS}


def rates(values: Mapping[str, float]) -> dict[str, float | None]:
    def ratio(top: str, bottom: str) -> float | None:
        return round(values[top] / values[bottom], 6) if values.get(bottom) else None

    return {"delivery_rate": ratio("delivered", "sent"), "open_rate": ratio("opened", "delivered"),
            "click_rate": ratio("unique_clicks", "delivered")}


def period(first: date | None, last: date | None, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """The UTC moments [start, end) of local days first..last (inclusive); None when open."""
    start = datetime.combine(first, time(), zone) if first else None
    end = datetime.combine(last + timedelta(days=1), time(), zone) if last else None
    return start, end


def local_day(hour: datetime, zone: ZoneInfo) -> date:
    return hour.astimezone(zone).date()


def daily(buckets: Iterable[Bucket], zone: ZoneInfo, first: date | None = None,
          last: date | None = None) -> list[dict[str, object]]:
    """Per local day, every counter: each day from ``first`` (else the first with counts) to
    ``last`` (else the last with counts), zeros included, at most ``MAX_DAYS``."""
    days: dict[date, list[Mapping[str, float]]] = defaultdict(list)
    for bucket in buckets:
        if bucket.hour is not None:
            days[local_day(bucket.hour, zone)].append(bucket.counts)
    if not days and (first is None or last is None):
        return []
    start = first or min(days)
    end = last or max(days)
    out: list[dict[str, object]] = []
    day = start
    while day <= end and len(out) < MAX_DAYS:
        out.append({"date": day.isoformat(), **counts(total(days.get(day, [])))})
        day += timedelta(days=1)
    return out


def summary(buckets: list[Bucket], zone: ZoneInfo, first: date | None = None,
            last: date | None = None) -> dict[str, object]:
    """Totals, rates and the daily series of a set of buckets."""
    sums = total(b.counts for b in buckets)
    return {**counts(sums), **rates(sums), "daily": daily(buckets, zone, first, last)}


def by_part(buckets: Iterable[Bucket]) -> dict[str, list[Bucket]]:
    """A journey partition's buckets per node."""
    parts: dict[str, list[Bucket]] = defaultdict(list)
    for bucket in buckets:
        if bucket.part is not None:
            parts[bucket.part].append(bucket)
    return dict(parts)
