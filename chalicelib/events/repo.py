"""The events package's DynamoDB calls (events, aggregates, claims, definitions), returning
plain data.

What to write is decided in ``events.storing`` (pure); this module reads what a chunk of
events needs in batched calls and writes a plan: claims and aggregates with their
conditions, events with BatchWriteItem, missing profiles with a "still missing" condition.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock, dynamo
from chalicelib.config import settings
from chalicelib.events import aggregates
from chalicelib.events.messages import QueuedEvent
from chalicelib.events.storing import Aggregate, ChunkPlan, ChunkState, keys_to_read
from chalicelib.models.base import plain
from chalicelib.models.events import ClaimItem, EventItem, EVENTS_FROM, EVENTS_TO, claim_sk, event_sk
from chalicelib.models.profiles import (
    ERASED_SK, PROFILE_SK, STAT_PREFIX, EventStatItem, ProfileItem, user_pk,
)
from chalicelib.models.workspaces import EVENTDEF_PREFIX, WORKSPACE_SK, EventDefinitionItem, WorkspaceItem

WRITE_CONCURRENCY = 8
RETENTION_CACHE_SECONDS = 60.0
_retention_cache: dict[str, tuple[float, int | None]] = {}


def retention_days(workspace_id: str) -> int | None:
    """The workspace's event retention (None when the workspace is gone), read at most once
    a minute per process: a batch of messages from one workspace costs one read, and a
    changed retention applies to events stored from the next minute on."""
    cached = _retention_cache.get(workspace_id)
    if cached and time.monotonic() - cached[0] < RETENTION_CACHE_SECONDS:
        return cached[1]
    table = settings.table("workspaces")
    found = dynamo.batch_get({table: [dynamo.key(workspace_id, WORKSPACE_SK)]})[table]
    days = int(WorkspaceItem.from_raw_data(found[0]).event_retention_days) if found else None
    _retention_cache[workspace_id] = (time.monotonic(), days)
    return days


def read_chunk(workspace_id: str, chunk: Sequence[QueuedEvent]) -> ChunkState:
    """Everything the decision needs, strongly consistent: which of the chunk's events (and
    of its aggregates' pending events) are stored, their claims, aggregates, profiles and
    erasure times. One BatchGetItem, plus a second one for keys only known after it
    (claimed times, aggregates' pending events)."""
    events_table, profiles_table = settings.table("events"), settings.table("profiles")
    wanted = keys_to_read(chunk)
    found = dynamo.batch_get(
        {
            events_table: [dynamo.key(user_pk(workspace_id, u), sk) for u, sk in wanted.events],
            profiles_table: [dynamo.key(user_pk(workspace_id, u), PROFILE_SK) for u in wanted.users]
            + [dynamo.key(user_pk(workspace_id, u), ERASED_SK) for u in wanted.users]
            + [dynamo.key(user_pk(workspace_id, u), STAT_PREFIX + n) for u, n in wanted.stats],
        },
        projection={events_table: "pk, sk, ts"},
    )
    prefix_len = len(workspace_id) + 1
    state = ChunkState()
    for raw in found[events_table]:
        user_id, sk = raw["pk"]["S"][prefix_len:], raw["sk"]["S"]
        if sk.startswith(claim_sk("")):
            state.claims[(user_id, sk[len(claim_sk("")):])] = raw["ts"]["S"]
        else:
            state.stored.add((user_id, sk))
    for raw in found[profiles_table]:
        user_id, sk = raw["pk"]["S"][prefix_len:], raw["sk"]["S"]
        if sk == PROFILE_SK:
            state.profiles.add(user_id)
        elif sk == ERASED_SK:
            state.erased[user_id] = raw["erased_at"]["S"]
        else:
            item = EventStatItem.from_raw_data(raw)
            state.aggregates[(user_id, item.name)] = Aggregate(
                stat=aggregates.Stat(int(item.event_count), item.first_at, item.last_at, plain(item.sums)),
                version=int(item.version), pending=tuple(item.pending or ()),
            )
    more = sorted(wanted.after_first_read(state) - {k for k in wanted.events})
    if more:
        again = dynamo.batch_get({events_table: [dynamo.key(user_pk(workspace_id, u), sk) for u, sk in more]},
                                 projection={events_table: "pk, sk"})
        state.stored |= {(raw["pk"]["S"][prefix_len:], raw["sk"]["S"]) for raw in again[events_table]}
    return state


def write_chunk(workspace_id: str, plan: ChunkPlan, retention: int, received_at: str) -> None:
    """Claims, then aggregates, then events, then missing profiles. Raises ``LostRace``
    when a condition failed (a concurrent writer): the caller re-reads and decides again;
    what was written stays consistent, because an aggregate lists what it counted as
    pending until the events are stored."""
    for user_id, event_id, ts in plan.claims:
        claim = ClaimItem(pk=user_pk(workspace_id, user_id), sk=claim_sk(event_id), ts=ts, expires_at=_expiry(ts, retention))
        if not dynamo.save_if(claim, ClaimItem.pk.does_not_exist()):
            raise dynamo.LostRace("the event's time was claimed meanwhile")
    outcomes = _parallel(_put_aggregate, [(workspace_id, a) for a in plan.aggregates])
    if not all(outcomes):
        raise dynamo.LostRace("an aggregate changed since it was read")
    dynamo.batch_put(settings.table("events"), [_event_item(workspace_id, e, retention, received_at)
                                                for e in plan.events])
    now = clock.parse_iso(received_at)
    _parallel(_create_profile, [(workspace_id, u, now) for u in plan.profiles])


def _put_aggregate(args: tuple[str, Any]) -> bool:
    workspace_id, write = args
    item = EventStatItem(
        pk=user_pk(workspace_id, write.user_id), sk=STAT_PREFIX + write.name, name=write.name,
        event_count=write.stat.count, first_at=write.stat.first_at, last_at=write.stat.last_at,
        sums=write.stat.sums, version=write.version, pending=list(write.pending),
    )
    expected = write.version - 1
    return dynamo.save_if(item, EventStatItem.pk.does_not_exist() if expected == 0 else EventStatItem.version == expected)


def _create_profile(args: tuple[str, str, datetime]) -> bool:
    from chalicelib.profiles.profiles import new_profile  # profiles imports events for erasure

    workspace_id, user_id, now = args
    # False: created meanwhile (by an upsert or another handler), nothing to do.
    return dynamo.save_if(new_profile(workspace_id, user_id, now), ProfileItem.pk.does_not_exist())


def _parallel(fn: Any, jobs: list[Any]) -> list[bool]:
    """Conditional writes need a call each: run them on a few threads. The first runs
    alone, so the model's client exists before the threads share it (otherwise each
    thread builds its own botocore client, ~100 ms apiece)."""
    if len(jobs) <= 1:
        return [fn(job) for job in jobs]
    first = fn(jobs[0])
    with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(jobs) - 1)) as pool:
        return [first, *pool.map(fn, jobs[1:])]


def _expiry(ts: str, retention_days: int) -> int:
    return int((clock.parse_iso(ts) + timedelta(days=retention_days)).timestamp())


def _event_item(workspace_id: str, event: QueuedEvent, retention_days: int, received_at: str) -> dict[str, Any]:
    item = EventItem(
        pk=user_pk(workspace_id, event.user_id), sk=event_sk(event.ts, event.event_id), event_id=event.event_id,
        user_id=event.user_id, name=event.name, ts=event.ts, received_at=received_at,
        properties=event.properties, expires_at=_expiry(event.ts, retention_days),
    )
    return item.serialize()


def count_events(workspace_id: str, user_id: str, name: str, start: str, end: str, now: datetime) -> int:
    """How many times the user did ``name`` with start <= ts < end (fixed-width ISO UTC):
    one key-range Query with Select=COUNT. The range is exact: the key "<end>#<id>" sorts
    after "<end>", so BETWEEN start AND end holds the events from start up to, not at, end."""
    lower, upper = max(start, EVENTS_FROM), min(end, EVENTS_TO)
    unexpired = (EventItem.name == name) & (EventItem.expires_at > int(now.timestamp()))
    return int(EventItem.count(user_pk(workspace_id, user_id), EventItem.sk.between(lower, upper),
                               filter_condition=unexpired))


# --- reading events --------------------------------------------------------------------

@dataclass(frozen=True)
class EventRecord:
    event_id: str
    user_id: str
    name: str
    ts: str
    received_at: str
    properties: dict[str, Any]


def list_events(workspace_id: str, user_id: str, name: str | None, limit: int, start: dict[str, Any] | None,
                now: datetime) -> tuple[list[EventRecord], dict[str, Any] | None]:
    """A user's unexpired events, newest first (the sort key is time-ordered): one Query,
    filtered by name when given. Returns the page and DynamoDB's LastEvaluatedKey."""
    condition = EventItem.expires_at > int(now.timestamp())
    if name:
        condition &= EventItem.name == name
    result = EventItem.query(user_pk(workspace_id, user_id), EventItem.sk.between(EVENTS_FROM, EVENTS_TO),
                             filter_condition=condition, scan_index_forward=False, limit=limit,
                             last_evaluated_key=start)
    records = [EventRecord(i.event_id, i.user_id, i.name, i.ts, i.received_at, plain(i.properties)) for i in result]
    return records, result.last_evaluated_key


# --- event definitions (workspaces table) ---------------------------------------------------

@dataclass(frozen=True)
class DefinitionRecord:
    name: str
    description: str | None
    properties: dict[str, str]
    created_at: str
    updated_at: str
    version: int | None  # None on definitions stored before versions existed


def _definition(item: EventDefinitionItem) -> DefinitionRecord:
    return DefinitionRecord(item.name, item.description, dict(plain(item.properties)), item.created_at,
                            item.updated_at or item.created_at,
                            int(item.version) if item.version is not None else None)


def get_definition(workspace_id: str, name: str) -> DefinitionRecord | None:
    try:
        return _definition(EventDefinitionItem.get(workspace_id, EVENTDEF_PREFIX + name, consistent_read=True))
    except DoesNotExist:
        return None


def put_definition(workspace_id: str, record: DefinitionRecord, read: DefinitionRecord | None) -> bool:
    """Write the definition if it is still as read (``read`` None: still absent); False
    when another writer got there first."""
    condition: Any
    if read is None:
        condition = EventDefinitionItem.pk.does_not_exist()
    elif read.version is None:
        condition = EventDefinitionItem.pk.exists() & EventDefinitionItem.version.does_not_exist()
    else:
        condition = EventDefinitionItem.version == read.version
    item = EventDefinitionItem(
        pk=workspace_id, sk=EVENTDEF_PREFIX + record.name, name=record.name, description=record.description,
        properties=dict(record.properties), created_at=record.created_at, updated_at=record.updated_at,
        version=record.version,
    )
    return dynamo.save_if(item, condition)


def delete_definition(workspace_id: str, name: str) -> bool:
    """False when there was no such definition."""
    return dynamo.delete_if(EventDefinitionItem(workspace_id, EVENTDEF_PREFIX + name), EventDefinitionItem.pk.exists())


def list_definitions(workspace_id: str, limit: int | None = None, start: dict[str, Any] | None = None
                     ) -> tuple[list[DefinitionRecord], dict[str, Any] | None]:
    """One page of definitions by name (every one when ``limit`` is None): Query on the
    workspace's partition, ``begins_with(sk, "eventdef#")``."""
    result = EventDefinitionItem.query(workspace_id, EventDefinitionItem.sk.startswith(EVENTDEF_PREFIX),
                                       limit=limit, last_evaluated_key=start)
    return [_definition(i) for i in result], result.last_evaluated_key


def events_of(workspace_id: str, user_id: str, name: str, since: str | None, now: datetime
              ) -> list[tuple[str, dict[str, Any]]]:
    """A user's unexpired events of one name from ``since`` on (ISO UTC; None: all held),
    as (ts, properties): one key-range Query, filtered by name (audience rules, judgments)."""
    unexpired = (EventItem.name == name) & (EventItem.expires_at > int(now.timestamp()))
    result = EventItem.query(user_pk(workspace_id, user_id), EventItem.sk.between(max(since or EVENTS_FROM, EVENTS_FROM),
                                                                                 EVENTS_TO), filter_condition=unexpired)
    return [(item.ts, plain(item.properties)) for item in result]
