"""The profiles package's storage: every DynamoDB call of profiles, tags and erasure, as
plain records in and out. What to write is decided in ``profiles`` and ``tags``.

Every write to a profile item changes its ``version``: a whole-item put carries the
version its writer read plus one (condition: still at the version read), a tag update
adds one. So a writer that read the profile before any other change loses its condition
and reads again; nothing it did not see is overwritten.

The profiles table holds, per user partition, the profile (sk ``profile``), the event
aggregates (``stat#<name>``) and the erasure tombstone (``erased``); the events table
holds the user's events and whatever else another module keys under the same partition.
Erasure reads keys only, so it deletes every item under the partition whatever its type.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.condition import Condition, size
from pynamodb.expressions.update import Action

from chalicelib import aws, dynamo
from chalicelib.config import settings
from chalicelib.models.base import plain
from chalicelib.models.profiles import (
    CHAT_INDEXES, ERASED_SK, PROFILE_SK, STAT_PREFIX, ErasureItem, EventStatItem, ProfileItem, chat_key, email_key,
    phone_key, user_pk,
)
from chalicelib.profiles.schemas import CHANNELS

KEYS_PAGE = 500  # keys per erasure Query page (and per group of deletes)


@dataclass(frozen=True)
class ProfileRecord:
    workspace_id: str
    user_id: str
    attributes: dict[str, Any]
    channels: dict[str, str | None]  # every channel of CHANNELS, None when unset
    tags: frozenset[str]
    created_at: str
    updated_at: str
    version: int  # 0 for a profile not stored yet


@dataclass(frozen=True)
class StatRecord:
    name: str
    count: int
    first_at: str
    last_at: str
    sums: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    items: list[ProfileRecord]
    last_key: dict[str, Any] | None


@dataclass(frozen=True)
class ErasureState:
    profile: bool  # the profile item exists
    erased_at: str | None  # the tombstone's time, if one exists
    profile_created_at: str | None = None


def _record(item: ProfileItem) -> ProfileRecord:
    return ProfileRecord(
        workspace_id=item.workspace_id, user_id=item.user_id, attributes=plain(item.attributes),
        channels={c: getattr(item, c) for c in CHANNELS}, tags=frozenset(item.tags or ()),
        created_at=item.created_at, updated_at=item.updated_at, version=int(item.version),
    )


def profile_item(record: ProfileRecord) -> ProfileItem:
    """The item for a record (the model fills any attribute the record does not name)."""
    item = ProfileItem(
        pk=user_pk(record.workspace_id, record.user_id), sk=PROFILE_SK, workspace_id=record.workspace_id,
        user_id=record.user_id, attributes=dict(record.attributes), tags=set(record.tags) or None,
        created_at=record.created_at, updated_at=record.updated_at, version=record.version,
    )
    for channel in CHANNELS:
        setattr(item, channel, record.channels.get(channel))
    email, phone = record.channels.get("email"), record.channels.get("phone")
    item.email_key = email_key(record.workspace_id, email) if email else None
    item.phone_key = phone_key(record.workspace_id, phone) if phone else None
    for channel, (_, attribute) in CHAT_INDEXES.items():
        address = record.channels.get(channel)
        setattr(item, attribute, chat_key(record.workspace_id, address) if address else None)
    return item


# --- profiles ------------------------------------------------------------------------------

def read_profiles(workspace_id: str, users: Sequence[str], *, consistent: bool = True) -> dict[str, ProfileRecord]:
    """The stored profiles of these users (BatchGetItem, strongly consistent unless asked
    otherwise: half the read units), by user id."""
    table = settings.table("profiles")
    raw = dynamo.batch_get({table: [dynamo.key(user_pk(workspace_id, u), PROFILE_SK) for u in users]},
                           consistent=consistent)[table]
    return {item.user_id: _record(item) for item in map(ProfileItem.from_raw_data, raw)}


def get_profile(workspace_id: str, user_id: str) -> ProfileRecord | None:
    try:
        return _record(ProfileItem.get(user_pk(workspace_id, user_id), PROFILE_SK))
    except DoesNotExist:
        return None


def put_profile(record: ProfileRecord, expected: int | None) -> bool:
    """Write the whole profile if it is still at version ``expected`` (None: still missing);
    False when another writer got there first."""
    condition = ProfileItem.pk.does_not_exist() if expected is None else ProfileItem.version == expected
    return dynamo.save_if(profile_item(record), condition)


def profiles_with_address(workspace_id: str, *, email: str | None = None, phone: str | None = None,
                          limit: int = 200) -> list[ProfileRecord]:
    """The profiles holding this email (any case) or E.164 phone: a Query on the sparse
    keys-only index, then BatchGetItem of the profiles (strongly consistent), by user id."""
    index, name, value = (("by_email", "email_key", email_key(workspace_id, email)) if email is not None
                          else ("by_phone", "phone_key", phone_key(workspace_id, phone or "")))
    answer = aws.dynamodb().query(  # keys only: PynamoDB's kind filter would need an attribute not projected
        TableName=settings.table("profiles"), IndexName=index, Limit=limit,
        KeyConditionExpression="#k = :v", ExpressionAttributeNames={"#k": name},
        ExpressionAttributeValues={":v": {"S": value}},
    )
    users = [raw["pk"]["S"][len(workspace_id) + 1:] for raw in answer.get("Items", [])]
    found = read_profiles(workspace_id, users) if users else {}
    return [found[u] for u in sorted(found)]


def users_with_chat_address(workspace_id: str, channel: str, address: str, limit: int = 2) -> list[str]:
    """The user ids whose profile holds this chat address (``channel``: wechat_openid,
    whatsapp or viber, the address as stored): one Query on the sparse keys-only index."""
    index, name = CHAT_INDEXES[channel]
    answer = aws.dynamodb().query(
        TableName=settings.table("profiles"), IndexName=index, Limit=limit,
        KeyConditionExpression="#k = :v", ExpressionAttributeNames={"#k": name},
        ExpressionAttributeValues={":v": {"S": chat_key(workspace_id, address)}},
    )
    return sorted(raw["pk"]["S"][len(workspace_id) + 1:] for raw in answer.get("Items", []))


def list_profiles(workspace_id: str, limit: int, start: dict[str, Any] | None) -> Page:
    result = ProfileItem.by_workspace.query(workspace_id, limit=limit, last_evaluated_key=start)
    return Page([_record(item) for item in result], result.last_evaluated_key)


def read_stats(workspace_id: str, user_id: str) -> list[StatRecord]:
    items = EventStatItem.query(user_pk(workspace_id, user_id), EventStatItem.sk.startswith(STAT_PREFIX))
    return [StatRecord(s.name, int(s.event_count), s.first_at, s.last_at, plain(s.sums)) for s in items]


# --- tags ----------------------------------------------------------------------------------

def add_tags(workspace_id: str, user_id: str, tags: set[str], updated_at: str, *, max_tags: int) -> frozenset[str] | None:
    """Add tags if the profile exists and keeps at most ``max_tags``; the tags after, or
    None when the condition failed (no profile, or too many tags)."""
    room = ProfileItem.tags.does_not_exist() | (size(ProfileItem.tags) <= max_tags - len(tags))
    return _update_profile(workspace_id, user_id, [ProfileItem.tags.add(tags)], updated_at, room)


def remove_tags(workspace_id: str, user_id: str, tags: set[str], updated_at: str) -> frozenset[str] | None:
    """Remove tags if the profile exists; the tags after, or None when there is no profile."""
    return _update_profile(workspace_id, user_id, [ProfileItem.tags.delete(tags)], updated_at, None)


def _update_profile(workspace_id: str, user_id: str, actions: list[Action], updated_at: str,
                    condition: Condition | None) -> frozenset[str] | None:
    """One UpdateItem on an existing profile that also stamps it and bumps its version."""
    item = ProfileItem(user_pk(workspace_id, user_id), PROFILE_SK)
    exists = ProfileItem.pk.exists()
    try:
        item.update(
            actions=[*actions, ProfileItem.updated_at.set(updated_at), ProfileItem.version.add(1)],
            condition=exists if condition is None else exists & condition,
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return frozenset(item.tags or ())


def profile_exists(workspace_id: str, user_id: str) -> bool:
    return ProfileItem.count(user_pk(workspace_id, user_id), ProfileItem.sk == PROFILE_SK) > 0


# --- erasure -------------------------------------------------------------------------------

def erasure_state(workspace_id: str, user_id: str) -> ErasureState:
    """Whether the profile exists and when the user was last erased (one BatchGetItem)."""
    table, pk = settings.table("profiles"), user_pk(workspace_id, user_id)
    found = dynamo.batch_get({table: [dynamo.key(pk, PROFILE_SK), dynamo.key(pk, ERASED_SK)]},
                             projection={table: "sk, erased_at, created_at"})[table]
    by_sk = {raw["sk"]["S"]: raw for raw in found}
    erased = by_sk.get(ERASED_SK, {}).get("erased_at", {}).get("S")
    created = by_sk.get(PROFILE_SK, {}).get("created_at", {}).get("S")
    return ErasureState(profile=PROFILE_SK in by_sk, erased_at=erased, profile_created_at=created)


def put_tombstone(workspace_id: str, user_id: str, erased_at: str, expires_at: int) -> None:
    """Leave (or move forward) the user's erasure tombstone."""
    ErasureItem(pk=user_pk(workspace_id, user_id), sk=ERASED_SK, erased_at=erased_at, expires_at=expires_at).save()


def _keys(table: str, pk: str, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Every key under a partition, whatever the item (Query, keys only)."""
    pages = aws.dynamodb().get_paginator("query").paginate(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pk}},
        ProjectionExpression="pk, sk", ConsistentRead=True, PaginationConfig={"PageSize": KEYS_PAGE},
    )
    seen = 0
    for page in pages:
        for key in page.get("Items", []):
            yield {"pk": key["pk"], "sk": key["sk"]}
            seen += 1
            if limit is not None and seen >= limit:
                return


def delete_events(workspace_id: str, user_id: str, limit: int) -> bool:
    """Delete up to ``limit`` items under the user's partition of the events table; True
    when none is left."""
    table, pk = settings.table("events"), user_pk(workspace_id, user_id)
    batch: list[dict[str, Any]] = []
    removed = 0
    for key in _keys(table, pk, limit):
        batch.append(key)
        if len(batch) == KEYS_PAGE:
            removed += dynamo.batch_delete(table, batch)
            batch = []
    removed += dynamo.batch_delete(table, batch)
    return removed < limit or not any(True for _ in _keys(table, pk, 1))


def profile_item_sks(workspace_id: str, user_id: str) -> list[str]:
    """Sort keys of every item in the user's partition of the profiles table."""
    table, pk = settings.table("profiles"), user_pk(workspace_id, user_id)
    return [key["sk"]["S"] for key in _keys(table, pk)]


def delete_profile_items(workspace_id: str, user_id: str, sks: Sequence[str]) -> None:
    """Delete these items of the user's profiles partition (BatchWriteItem, no order)."""
    pk = user_pk(workspace_id, user_id)
    dynamo.batch_delete(settings.table("profiles"), [dynamo.key(pk, sk) for sk in sks])


def delete_profile(workspace_id: str, user_id: str) -> None:
    """Delete the profile item itself (DeleteItem; nothing when it is gone already)."""
    ProfileItem(user_pk(workspace_id, user_id), PROFILE_SK).delete()
