"""Time buckets of the due-work index (pure, no I/O).

Work due at a moment lives in the bucket of its minute (UTC ``YYYY-MM-DDTHH:MM``), an item
``pk = due#<minute>``, ``sk = <kind>#<workspace_id>#<id>``: the one-minute schedule reads
whole buckets with a Query each, never a scan. A cursor remembers the last minute drained,
so minutes the schedule missed (a failed or late invocation) are drained by the next one.

Writes race the drain: an item put into the current minute just after the drain read it
would wait forever. So ``schedule`` never puts work in a minute before the one it is put
in (``bucket_for``), and each drain re-reads the ``OVERLAP_MINUTES`` before its cursor
(Queries of buckets already drained are empty and cost 0.5 RCU each).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

PREFIX = "due#"
CURSOR_PK = "cursor"
CURSOR_SK = "due"
OVERLAP_MINUTES = 5
FIRST_LOOKBACK_MINUTES = 60  # no cursor yet (a new deployment): the last hour
MAX_BUCKETS_PER_RUN = 24 * 60  # a schedule off for longer catches up over several runs
SEPARATOR = "#"


def floor_minute(moment: datetime) -> datetime:
    utc = moment.astimezone(timezone.utc)
    return utc.replace(second=0, microsecond=0)


def bucket_of(moment: datetime) -> str:
    return floor_minute(moment).strftime("%Y-%m-%dT%H:%M")


def minute_of(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y-%m-%dT%H:%M").replace(tzinfo=timezone.utc)


def bucket_for(at: datetime, now: datetime) -> str:
    """Where work due ``at`` goes when scheduled ``now``: its minute, or now's if that is
    earlier (work due in the past is due now)."""
    return bucket_of(max(at, now))


def due_pk(bucket: str) -> str:
    return PREFIX + bucket


def work_sk(kind: str, workspace_id: str, item_id: str) -> str:
    for name, value in (("kind", kind), ("workspace id", workspace_id)):
        if not value or SEPARATOR in value:
            raise ValueError(f"a {name} is not empty and holds no {SEPARATOR}")
    if not item_id:
        raise ValueError("an id is not empty")
    return f"{kind}{SEPARATOR}{workspace_id}{SEPARATOR}{item_id}"


def parse_sk(sk: str) -> tuple[str, str, str]:
    kind, workspace_id, item_id = sk.split(SEPARATOR, 2)
    return kind, workspace_id, item_id


def to_drain(cursor: str | None, now: datetime) -> list[str]:
    """The buckets one drain reads, oldest first: from ``OVERLAP_MINUTES`` before the cursor
    (or an hour back without one) through now's minute, at most ``MAX_BUCKETS_PER_RUN``. A
    cursor after now (a clock set back, in tests) drains around now."""
    end = floor_minute(now)
    if cursor is None:
        start = end - timedelta(minutes=FIRST_LOOKBACK_MINUTES)
    else:
        start = min(minute_of(cursor), end) - timedelta(minutes=OVERLAP_MINUTES)
    count = min(MAX_BUCKETS_PER_RUN, int((end - start).total_seconds() // 60) + 1)
    return [bucket_of(start + timedelta(minutes=i)) for i in range(count)]
