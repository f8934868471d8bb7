"""Storing queued events exactly once and keeping per-user aggregates.

For each chunk of events one BatchGetItem reads which events already exist, the
aggregates they touch and whether their profiles exist; one TransactWriteItems then puts
the new events (condition: not there yet), the new aggregates (condition: still at the
version read) and any missing profiles (condition: still missing). A redelivered message
finds its events stored and writes nothing; a concurrent writer makes the transaction
fail as a whole, and the chunk is re-read and retried. So an event is stored and counted
once, whatever SQS does.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


from chalicelib import clock, dynamo, logs
from chalicelib.config import settings
from chalicelib.events import aggregates
from chalicelib.events.messages import EventsMessage, QueuedEvent
from chalicelib.models.base import plain
from chalicelib.models.events import EventItem
from chalicelib.models.profiles import ERASED_SK, PROFILE_SK, STAT_PREFIX, EventStatItem, ProfileItem, user_pk
from chalicelib.models.workspaces import WORKSPACE_SK, WorkspaceItem
from chalicelib.profiles.profiles import new_profile

MAX_TRANSACTION_ITEMS = 100
MAX_TRIES = 8


class RetryLater(Exception):
    """The chunk kept losing races; let SQS redeliver the message."""


@dataclass
class StoreResult:
    stored: int = 0
    skipped: int = 0  # already stored, or received before the user's erasure


def store_message(message: EventsMessage, now: datetime) -> StoreResult:
    """Store one queued message's events; safe to call again with the same message."""
    retention = _retention_days(message.workspace_id)
    if retention is None:
        logs.logger.warning("workspace gone; dropping events", extra={"workspace_id": message.workspace_id})
        return StoreResult()
    unique: dict[tuple[str, str], QueuedEvent] = {}
    for event in message.events:
        unique.setdefault((event.user_id, event.event_id), event)
    result = StoreResult(skipped=len(message.events) - len(unique))
    for chunk in plan_chunks(list(unique.values())):
        stored = _store_chunk(message.workspace_id, chunk, retention, message.received_at)
        result.stored += stored
        result.skipped += len(chunk) - stored
    return result


def plan_chunks(events: Sequence[QueuedEvent], limit: int = MAX_TRANSACTION_ITEMS) -> list[list[QueuedEvent]]:
    """Split events so each chunk is one BatchGetItem and one transaction: its keys to read
    (events, aggregates, and each user's profile and erasure tombstone) fit ``limit``, which
    also bounds the items written (events, aggregates, missing profiles)."""
    chunks: list[list[QueuedEvent]] = []
    current: list[QueuedEvent] = []
    stats: set[tuple[str, str]] = set()
    users: set[str] = set()
    for event in events:
        new_stats = stats | {(event.user_id, event.name)}
        new_users = users | {event.user_id}
        if current and len(current) + 1 + len(new_stats) + 2 * len(new_users) > limit:
            chunks.append(current)
            current, stats, users = [], set(), set()
            new_stats, new_users = {(event.user_id, event.name)}, {event.user_id}
        current.append(event)
        stats, users = new_stats, new_users
    if current:
        chunks.append(current)
    return chunks


_retention_cache: dict[str, tuple[float, int | None]] = {}
RETENTION_CACHE_SECONDS = 60.0


def _retention_days(workspace_id: str) -> int | None:
    """The workspace's event retention, read at most once a minute per process: a batch
    of messages from one workspace costs one read, and a changed retention applies to
    events stored from the next minute on."""
    cached = _retention_cache.get(workspace_id)
    if cached and time.monotonic() - cached[0] < RETENTION_CACHE_SECONDS:
        return cached[1]
    table = settings.table("workspaces")
    found = dynamo.batch_get({table: [dynamo.key(workspace_id, WORKSPACE_SK)]})[table]
    days = int(WorkspaceItem.from_raw_data(found[0]).event_retention_days) if found else None
    _retention_cache[workspace_id] = (time.monotonic(), days)
    return days


def _store_chunk(workspace_id: str, chunk: list[QueuedEvent], retention_days: int, received_at: str) -> int:
    for attempt in range(MAX_TRIES):
        existing_events, stats, profiles, erased = _read(workspace_id, chunk)
        new = [e for e in chunk if (e.user_id, e.event_id) not in existing_events
               and not received_at <= erased.get(e.user_id, "")]
        if not new:
            return 0
        try:
            with dynamo.lost_race_on_conflict():
                _write(workspace_id, new, stats, profiles, retention_days, received_at)
            return len(new)
        except dynamo.LostRace:
            dynamo.backoff(attempt)
    raise RetryLater(f"{len(chunk)} events kept conflicting with concurrent writers")


def _read(workspace_id: str, chunk: list[QueuedEvent]) -> tuple[
        set[tuple[str, str]], dict[tuple[str, str], EventStatItem], set[str], dict[str, str]]:
    """Stored event ids, aggregates, existing profiles and erasure times of the chunk's users."""
    events_table, profiles_table = settings.table("events"), settings.table("profiles")
    users = sorted({e.user_id for e in chunk})
    names = sorted({(e.user_id, e.name) for e in chunk})
    found = dynamo.batch_get(
        {
            events_table: [dynamo.key(user_pk(workspace_id, e.user_id), e.event_id) for e in chunk],
            profiles_table: [dynamo.key(user_pk(workspace_id, u), PROFILE_SK) for u in users]
            + [dynamo.key(user_pk(workspace_id, u), ERASED_SK) for u in users]
            + [dynamo.key(user_pk(workspace_id, u), STAT_PREFIX + n) for u, n in names],
        },
        projection={events_table: "pk, sk, user_id"},
    )
    existing = {(i["user_id"]["S"], i["sk"]["S"]) for i in found[events_table]}
    stats: dict[tuple[str, str], EventStatItem] = {}
    profiles: set[str] = set()
    erased: dict[str, str] = {}
    prefix_len = len(workspace_id) + 1
    for raw in found[profiles_table]:
        user_id = raw["pk"]["S"][prefix_len:]
        if raw["sk"]["S"] == PROFILE_SK:
            profiles.add(user_id)
        elif raw["sk"]["S"] == ERASED_SK:
            erased[user_id] = raw["erased_at"]["S"]
        else:
            item = EventStatItem.from_raw_data(raw)
            stats[(user_id, item.name)] = item
    return existing, stats, profiles, erased


def _write(
    workspace_id: str,
    new: list[QueuedEvent],
    stats: dict[tuple[str, str], EventStatItem],
    profiles: set[str],
    retention_days: int,
    received_at: str,
) -> None:
    groups: dict[tuple[str, str], list[QueuedEvent]] = {}
    for event in new:
        groups.setdefault((event.user_id, event.name), []).append(event)
    with dynamo.transaction() as tx:
        for event in new:
            tx.save(_event_item(workspace_id, event, retention_days, received_at), condition=EventItem.pk.does_not_exist())
        for (user_id, name), events in groups.items():
            item, condition = _next_stat(workspace_id, user_id, name, stats.get((user_id, name)), events)
            tx.save(item, condition=condition)
        for user_id in sorted({e.user_id for e in new} - profiles):
            tx.save(new_profile(workspace_id, user_id, clock.parse_iso(received_at)), condition=ProfileItem.pk.does_not_exist())


def _event_item(workspace_id: str, event: QueuedEvent, retention_days: int, received_at: str) -> EventItem:
    expires = clock.parse_iso(event.ts) + timedelta(days=retention_days)
    return EventItem(
        pk=user_pk(workspace_id, event.user_id), sk=event.event_id,
        time_key=f"{event.ts}#{event.event_id}", name_time_key=f"{event.name}#{event.ts}#{event.event_id}",
        user_id=event.user_id, name=event.name, ts=event.ts, received_at=received_at,
        properties=event.properties, expires_at=int(expires.timestamp()),
    )


def _next_stat(workspace_id: str, user_id: str, name: str, current: EventStatItem | None, events: list[QueuedEvent]) -> tuple[EventStatItem, Any]:
    before = None
    if current is not None:
        sums = plain(current.sums)
        before = aggregates.Stat(int(current.event_count), current.first_at, current.last_at, sums)
    after = aggregates.fold(before, [(e.ts, e.properties) for e in events])
    assert after is not None
    version = int(current.version) if current is not None else 0
    item = EventStatItem(
        pk=user_pk(workspace_id, user_id), sk=STAT_PREFIX + name, name=name, event_count=after.count,
        first_at=after.first_at, last_at=after.last_at, sums=after.sums, version=version + 1,
    )
    condition = EventStatItem.pk.does_not_exist() if current is None else EventStatItem.version == version
    return item, condition
