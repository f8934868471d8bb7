"""Profiles: upsert (merge), batch upsert, read with tags and event aggregates, list, erase."""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from pydantic import ValidationError

from chalicelib import clock, dynamo, pagination, storable
from chalicelib.errors import FieldError, Invalid, NotFound, Unavailable
from chalicelib.events import ingest
from chalicelib.models.profiles import ERASED_SK, PROFILE_SK, ProfileItem
from chalicelib.profiles import repo
from chalicelib.profiles.repo import ErasureState, ProfileRecord
from chalicelib.profiles.schemas import (
    MAX_ATTRIBUTES, MAX_ATTRIBUTES_BYTES,
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


def to_api(record: ProfileRecord) -> Profile:
    return Profile(
        user_id=record.user_id, attributes=record.attributes, **record.channels,
        tags=sorted(record.tags), created_at=record.created_at, updated_at=record.updated_at,
    )


def blank(workspace_id: str, user_id: str, now: datetime) -> ProfileRecord:
    """A profile not stored yet (version 0)."""
    stamp = clock.iso(now)
    return ProfileRecord(workspace_id=workspace_id, user_id=user_id, attributes={}, channels=dict.fromkeys(CHANNELS),
                         tags=frozenset(), created_at=stamp, updated_at=stamp, version=0)


def new_profile(workspace_id: str, user_id: str, now: datetime) -> ProfileItem:
    """The item of a new empty profile (the events handler creates missing ones)."""
    return repo.profile_item(replace(blank(workspace_id, user_id, now), version=1))


def merge(current: ProfileRecord, changes: Sequence[ProfileUpsert], now: datetime) -> ProfileRecord:
    """The profile after these changes, in order: a given attribute is set, one given as
    null removed, absent ones kept; a given channel address is set (null removes it).
    Tags are untouched. The version moves on by one, so the write is conditioned on the
    version read."""
    attributes = dict(current.attributes)
    channels = dict(current.channels)
    for change in changes:
        for name, value in change.attributes.items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
        for channel in CHANNELS:
            if channel in change.model_fields_set:
                channels[channel] = getattr(change, channel)
    return replace(current, attributes=attributes, channels=channels, updated_at=clock.iso(now),
                   version=current.version + 1)


def merged_problem(record: ProfileRecord) -> str | None:
    """Why a merged profile may not be stored: each change is capped on its own, but the
    merged attributes are what DynamoDB holds, so they are capped too (None when fine)."""
    if len(record.attributes) > MAX_ATTRIBUTES:
        return (f"the profile would hold {len(record.attributes)} attributes; at most {MAX_ATTRIBUTES} "
                "(remove some by setting them to null)")
    size = storable.json_size(record.attributes)
    if size > MAX_ATTRIBUTES_BYTES:
        return (f"the profile's attributes would take {size} bytes as JSON; at most {MAX_ATTRIBUTES_BYTES} "
                "(remove some by setting them to null)")
    return None


class TooLarge(Invalid):
    """Merged profiles that would pass the caps; ``refused`` maps their user ids to the reason."""

    def __init__(self, refused: dict[str, str]):
        super().__init__(errors=[FieldError("attributes", reason) for reason in refused.values()])
        self.refused = refused


def upsert_many(workspace_id: str, changes: Sequence[tuple[str, ProfileUpsert]], now: datetime) -> list[ProfileRecord]:
    """Merge changes into profiles, creating missing ones; optimistic, by version.

    Changes for the same user apply in order. Profiles are read with BatchGetItem and
    each is written with its own conditional put (the version it was read at), in
    parallel: a profile that lost a race to another writer (an upsert or a tag change)
    is re-read and retried alone, and a put costs half a transactional write. After
    MAX_TRIES lost races the caller gets a 503 to retry.
    """
    by_user: dict[str, list[ProfileUpsert]] = {}
    for user_id, change in changes:
        by_user.setdefault(user_id, []).append(change)
    pending = list(by_user)
    saved: dict[str, ProfileRecord] = {}
    refused: dict[str, str] = {}
    for attempt in range(MAX_TRIES):
        current = repo.read_profiles(workspace_id, pending)
        merged = []
        for user_id in pending:
            entry = _merged(workspace_id, user_id, current.get(user_id), by_user[user_id], now)
            problem = merged_problem(entry[0])
            if problem:
                refused[user_id] = problem
            else:
                merged.append(entry)
        if refused:  # nothing is written for a request with a refused profile (single, or the batch's users)
            raise TooLarge(refused)
        results = _put_all(merged)
        saved.update({record.user_id: record for (record, _), ok in zip(merged, results) if ok})
        pending = [record.user_id for (record, _), ok in zip(merged, results) if not ok]
        if not pending:
            return [saved[user_id] for user_id in by_user]
        dynamo.backoff(attempt)
    raise Unavailable("profiles are being changed concurrently; try again", retry_after=1)


def _merged(workspace_id: str, user_id: str, current: ProfileRecord | None, changes: list[ProfileUpsert],
            now: datetime) -> tuple[ProfileRecord, int | None]:
    """The record to write and the version it must find (None: the profile must be missing)."""
    base = current or blank(workspace_id, user_id, now)
    return merge(base, changes, now), current.version if current else None


def _put(entry: tuple[ProfileRecord, int | None]) -> bool:
    return repo.put_profile(*entry)


def _put_all(entries: list[tuple[ProfileRecord, int | None]]) -> list[bool]:
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
    indexed: list[tuple[int, tuple[str, ProfileUpsert]]] = []
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
        indexed.append((index, good[-1]))
    while good:
        try:
            upsert_many(workspace_id, good, now)
            break
        except TooLarge as too_large:  # report those by index, store the others
            for index, (user_id, _) in indexed:
                if user_id in too_large.refused:
                    errors.append(ItemError(index=index, user_id=user_id, errors=[
                        {"field": f"profiles[{index}].attributes", "message": too_large.refused[user_id]}]))
            indexed = [(i, c) for i, c in indexed if c[0] not in too_large.refused]
            good = [c for _, c in indexed]
    errors.sort(key=lambda e: e.index)
    return ProfileBatchResult(accepted=len(good), errors=errors)


def get_item(workspace_id: str, user_id: str) -> ProfileRecord:
    """The stored profile, or 404."""
    check_user_id(user_id)
    record = repo.get_profile(workspace_id, user_id)
    if record is None:
        raise NotFound(f"no profile {user_id}")
    return record


def stats_of(workspace_id: str, user_id: str) -> dict[str, EventStat]:
    return {s.name: EventStat(count=s.count, first_at=s.first_at, last_at=s.last_at, sums=s.sums)
            for s in repo.read_stats(workspace_id, user_id)}


def get(workspace_id: str, user_id: str) -> ProfileDetail:
    record = get_item(workspace_id, user_id)
    return ProfileDetail(**to_api(record).model_dump(), event_stats=stats_of(workspace_id, user_id))


def list_page(workspace_id: str, query: PageQuery) -> dict[str, Any]:
    """Profiles by user id, paged; with ``email`` or ``phone`` (ProfilesQuery) the profiles
    holding that address, through its index, in one page."""
    email, phone = getattr(query, "email", None), getattr(query, "phone", None)
    if email is not None or phone is not None:
        found = repo.profiles_with_address(workspace_id, email=email, phone=phone, limit=query.limit)
        return {"items": [to_api(r) for r in found], "next_cursor": None}
    start = pagination.decode(query.cursor, attribute="workspace_id", expected=workspace_id)
    page = repo.list_profiles(workspace_id, query.limit, start)
    return {"items": [to_api(r) for r in page.items], "next_cursor": pagination.encode(page.last_key)}


ERASE_SYNC_LIMIT = 2_000
ERASE_PER_MESSAGE = 20_000
# Longer than an events message can wait: queue retention (4 days) + DLQ (14 days) + margin.
TOMBSTONE_DAYS = 21


class ErasureStep(Enum):
    ERASE = "erase"
    ALREADY_ERASED = "already_erased"  # the tombstone is there and the profile gone: done (204)
    NOT_FOUND = "not_found"


def erasure_step(state: ErasureState) -> ErasureStep:
    """What a DELETE does: a stored profile is erased (again, if it came back after an
    earlier erasure); a tombstone without a profile means erased already."""
    if state.profile:
        return ErasureStep.ERASE
    if state.erased_at is not None:
        return ErasureStep.ALREADY_ERASED
    return ErasureStep.NOT_FOUND


def continuation_erases(state: ErasureState) -> bool:
    """Whether a queued continuation still has work: not when the profile there was made
    after the tombstone (the erasure had finished and the user came back since; a late or
    repeated delivery must leave the new profile alone)."""
    made_later = (state.profile_created_at is not None and state.erased_at is not None
                  and state.profile_created_at > state.erased_at)
    return not made_later


def profile_items_to_erase(sks: Sequence[str]) -> tuple[list[str], bool]:
    """Of the user's items in the profiles table: those to delete first (aggregates and
    anything else but the tombstone), and whether the profile is there to delete last,
    so that a missing profile means the erasure finished."""
    return [sk for sk in sks if sk not in (PROFILE_SK, ERASED_SK)], PROFILE_SK in sks


def start_erasure(workspace_id: str, user_id: str, now: datetime) -> None:
    """Erase a user. First a tombstone, so events queued for them before now are dropped by
    the events handler; then the continuation is queued, so whatever happens to this
    request the queue finishes the job; then events are deleted (what fits in a request),
    and the aggregates and the profile last."""
    check_user_id(user_id)
    step = erasure_step(repo.erasure_state(workspace_id, user_id))
    if step is ErasureStep.NOT_FOUND:
        raise NotFound(f"no profile {user_id}")
    if step is ErasureStep.ALREADY_ERASED:
        return
    expires = int((now + timedelta(days=TOMBSTONE_DAYS)).timestamp())
    repo.put_tombstone(workspace_id, user_id, clock.iso(now), expires)
    ingest.enqueue_erase(workspace_id, user_id)
    erase(workspace_id, user_id)


def continue_erasure(workspace_id: str, user_id: str) -> None:
    """The queued part of an erasure; idempotent, and re-queues itself until done."""
    if not continuation_erases(repo.erasure_state(workspace_id, user_id)):
        return
    if not erase(workspace_id, user_id, limit=ERASE_PER_MESSAGE):
        ingest.enqueue_erase(workspace_id, user_id)


def erase(workspace_id: str, user_id: str, *, limit: int | None = None) -> bool:
    """Delete a user's events, then their aggregates, then their profile (never the
    tombstone). True when everything is gone; False when more than ``limit`` events
    remain, and the profile with them (an erasure underway shows until it is done)."""
    if not repo.delete_events(workspace_id, user_id, limit or ERASE_SYNC_LIMIT):
        return False
    first, profile = profile_items_to_erase(repo.profile_item_sks(workspace_id, user_id))
    repo.delete_profile_items(workspace_id, user_id, first)
    if profile:
        repo.delete_profile(workspace_id, user_id)
    return True
