"""Profiles: upsert (merge), batch upsert, read with tags and event aggregates, list, erase."""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from pynamodb.exceptions import DoesNotExist

from chalicelib import clock, dynamo, pagination
from chalicelib.config import settings
from chalicelib.errors import AppError, Invalid, NotFound
from chalicelib.events import ingest
from chalicelib.models.base import plain
from chalicelib.models.events import EventItem
from chalicelib.models.profiles import (
    ERASED_SK, PROFILE_SK, STAT_PREFIX, ErasureItem, EventStatItem, ProfileItem, user_pk,
)
from chalicelib.profiles.schemas import (
    CHANNELS, EventStat, ItemError, Profile, ProfileBatch, ProfileBatchItem, ProfileBatchResult,
    ProfileDetail, ProfileUpsert, user_id_problem,
)
from chalicelib.schemas import PageQuery, invalid_from

MAX_TRIES = 6
PUT_CONCURRENCY = 8


def check_user_id(user_id: str) -> str:
    problem = user_id_problem(user_id)
    if problem:
        raise Invalid("user_id", problem)
    return user_id


def to_api(item: ProfileItem) -> Profile:
    return Profile(
        user_id=item.user_id,
        attributes=plain(item.attributes),
        **{c: getattr(item, c) for c in CHANNELS},
        tags=sorted(item.tags or []),
        created_at=item.created_at,
        updated_at=item.updated_at,
    )


def new_profile(workspace_id: str, user_id: str, now: datetime) -> ProfileItem:
    stamp = clock.iso(now)
    return ProfileItem(
        pk=user_pk(workspace_id, user_id), sk=PROFILE_SK, workspace_id=workspace_id, user_id=user_id,
        attributes={}, created_at=stamp, updated_at=stamp, version=1,
    )


def _merge(item: ProfileItem, change: ProfileUpsert, now: datetime) -> None:
    attributes = plain(item.attributes)
    for name, value in change.attributes.items():
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    item.attributes = attributes
    for channel in CHANNELS:
        if channel in change.model_fields_set:
            setattr(item, channel, getattr(change, channel))
    item.updated_at = clock.iso(now)


def upsert_many(workspace_id: str, changes: Sequence[tuple[str, ProfileUpsert]], now: datetime) -> list[ProfileItem]:
    """Merge changes into profiles, creating missing ones; optimistic, by version.

    Changes for the same user apply in order. Profiles are read with BatchGetItem and
    each is written with its own conditional put (the version it was read at), in
    parallel: a profile that lost a race to another writer is re-read and retried alone,
    and a put costs half a transactional write.
    """
    by_user: dict[str, list[ProfileUpsert]] = {}
    for user_id, change in changes:
        by_user.setdefault(user_id, []).append(change)
    pending = list(by_user)
    saved: dict[str, ProfileItem] = {}
    for attempt in range(MAX_TRIES):
        current = _read_profiles(workspace_id, pending)
        merged = [_merged(workspace_id, user_id, current.get(user_id), by_user[user_id], now) for user_id in pending]
        results = _put_all(merged)
        saved.update({item.user_id: item for (item, _), ok in zip(merged, results) if ok})
        lost = [item.user_id for (item, _), ok in zip(merged, results) if not ok]
        if not lost:
            return [saved[user_id] for user_id in by_user]
        pending = lost
        dynamo.backoff(attempt)
    raise AppError("profiles are being changed concurrently; try again", code="conflict_retry")


def _read_profiles(workspace_id: str, users: Sequence[str]) -> dict[str, ProfileItem]:
    table = settings.table("profiles")
    raw = dynamo.batch_get({table: [dynamo.key(user_pk(workspace_id, u), PROFILE_SK) for u in users]})[table]
    return {i["user_id"]["S"]: ProfileItem.from_raw_data(i) for i in raw}


def _merged(workspace_id: str, user_id: str, item: ProfileItem | None, changes: list[ProfileUpsert],
            now: datetime) -> tuple[ProfileItem, int | None]:
    expected = int(item.version) if item else None
    item = item or new_profile(workspace_id, user_id, now)
    for change in changes:
        _merge(item, change, now)
    item.version = (expected or 0) + 1
    return item, expected


def _put(entry: tuple[ProfileItem, int | None]) -> bool:
    item, expected = entry
    condition = ProfileItem.pk.does_not_exist() if expected is None else ProfileItem.version == expected
    try:
        with dynamo.lost_race_on_conflict():
            item.save(condition=condition)
        return True
    except dynamo.LostRace:
        return False


def _put_all(entries: list[tuple[ProfileItem, int | None]]) -> list[bool]:
    if len(entries) == 1:
        return [_put(entries[0])]
    with ThreadPoolExecutor(max_workers=PUT_CONCURRENCY) as pool:
        return list(pool.map(_put, entries))


def upsert(workspace_id: str, user_id: str, change: ProfileUpsert, now: datetime) -> Profile:
    check_user_id(user_id)
    return to_api(upsert_many(workspace_id, [(user_id, change)], now)[0])


def upsert_batch(workspace_id: str, batch: ProfileBatch, now: datetime) -> ProfileBatchResult:
    """Validate each item on its own: good ones are stored, bad ones reported by index."""
    good: list[tuple[str, ProfileUpsert]] = []
    errors: list[ItemError] = []
    for index, raw in enumerate(batch.profiles):
        try:
            item = ProfileBatchItem.model_validate(raw)
        except ValidationError as exc:
            user_id = raw.get("user_id") if isinstance(raw.get("user_id"), str) else None
            errors.append(ItemError(index=index, user_id=user_id, errors=[
                {"field": e.field, "message": e.message} for e in invalid_from(exc, f"profiles[{index}]").errors
            ]))
            continue
        good.append((item.user_id, ProfileUpsert.model_validate(item.model_dump(exclude={"user_id"}, exclude_unset=True))))
    if good:
        upsert_many(workspace_id, good, now)
    return ProfileBatchResult(accepted=len(good), errors=errors)


def get_item(workspace_id: str, user_id: str) -> ProfileItem:
    check_user_id(user_id)
    try:
        return ProfileItem.get(user_pk(workspace_id, user_id), PROFILE_SK)
    except DoesNotExist:
        raise NotFound(f"no profile {user_id}") from None


def stats_of(workspace_id: str, user_id: str) -> dict[str, EventStat]:
    items = EventStatItem.query(user_pk(workspace_id, user_id), EventStatItem.sk.startswith(STAT_PREFIX))
    return {
        s.name: EventStat(count=int(s.event_count), first_at=s.first_at, last_at=s.last_at,
                          sums=plain(s.sums))
        for s in items
    }


def get(workspace_id: str, user_id: str) -> ProfileDetail:
    item = get_item(workspace_id, user_id)
    return ProfileDetail(**to_api(item).model_dump(), event_stats=stats_of(workspace_id, user_id))


def list_page(workspace_id: str, query: PageQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="workspace_id", expected=workspace_id)
    result = ProfileItem.by_workspace.query(workspace_id, limit=query.limit, last_evaluated_key=start)
    return pagination.page(result, to_api)


ERASE_SYNC_LIMIT = 2_000
ERASE_PER_MESSAGE = 20_000
# Longer than an events message can wait: queue retention (4 days) + DLQ (14 days) + margin.
TOMBSTONE_DAYS = 21


def start_erasure(workspace_id: str, user_id: str, now: datetime) -> None:
    """Erase a user: first leave a tombstone, so events already queued for them (received
    before now) are dropped by the events handler, then delete what fits in a request and
    hand the rest to the events queue."""
    get_item(workspace_id, user_id)
    ErasureItem(
        pk=user_pk(workspace_id, user_id), sk=ERASED_SK, erased_at=clock.iso(now),
        expires_at=int((now + timedelta(days=TOMBSTONE_DAYS)).timestamp()),
    ).save()
    if not erase(workspace_id, user_id):
        ingest.enqueue_erase(workspace_id, user_id)


def continue_erasure(workspace_id: str, user_id: str) -> None:
    """The queued part of an erasure; idempotent, and re-queues itself until done."""
    if not erase(workspace_id, user_id, limit=ERASE_PER_MESSAGE):
        ingest.enqueue_erase(workspace_id, user_id)


def erase(workspace_id: str, user_id: str, *, limit: int | None = None) -> bool:
    """Delete a user's profile, aggregates and events (not the tombstone). True when
    everything is gone; False when more than ``limit`` events remain and the caller should
    continue asynchronously."""
    limit = limit or ERASE_SYNC_LIMIT
    pk = user_pk(workspace_id, user_id)
    profile_keys = [{"pk": {"S": pk}, "sk": {"S": i.sk}}
                    for i in ProfileItem.query(pk, attributes_to_get=["pk", "sk"]) if i.sk != ERASED_SK]
    dynamo.batch_delete(settings.table("profiles"), profile_keys)
    removed = 0
    events = EventItem.query(pk, attributes_to_get=["pk", "sk"], page_size=500)
    batch: list[dict[str, Any]] = []
    for event in events:
        batch.append(dynamo.key(pk, event.sk))
        if len(batch) == 500:
            removed += dynamo.batch_delete(settings.table("events"), batch)
            batch = []
            if removed >= limit:
                return False
    dynamo.batch_delete(settings.table("events"), batch)
    return True
