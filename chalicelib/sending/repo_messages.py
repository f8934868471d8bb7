"""The sender's DynamoDB calls on the messages table, returning plain data.

Reads are one strongly consistent BatchGetItem per 100 messages. Every write is a
conditional write on one message (the invariants are conditions, never read-then-write):

* claim:   PutItem, ``attribute_not_exists(pk)`` (new) or ``version = :read`` (released or
           crashed claim), status ``claimed`` with a token and a lease;
* outcome: UpdateItem, ``claim_token = :mine AND status = claimed``;
* drop:    PutItem, ``attribute_not_exists(pk)``, a terminal status;
* give up: UpdateItem, ``version = :read``, ``failed`` with "outcome unknown".

A write that gives a message a final status (outcome, drop, give up) is a transaction
with the counters it increments (``counters``): a counter moves if and only if the status
does, whatever crashes or redeliveries happen (TransactWriteItems: twice the write units).

Conditional writes cannot be batched (BatchWriteItem takes no conditions; a transaction
costs twice the units and fails as a whole), so they run on a few threads.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from chalicelib import aws, clock, dynamo, logs
from chalicelib.config import settings
from chalicelib.counters import counting
from chalicelib.counters import repo as counters_repo
from chalicelib.models.messages import HistoryEntry, MessageItem
from chalicelib.sending.messages import (
    CLAIMED, HistoryItem, MessageKey, Record, Written, with_history,
)

WRITE_CONCURRENCY = 16
T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Meta:
    """What a new message record says about itself."""

    user_id: str
    channel: str
    provider: str
    provider_kind: str
    campaign_id: str | None = None
    fatigue_counter: str | None = None  # the fatigue counter it holds a place in, if any


def owners_of(key: MessageKey, campaign_id: str | None) -> list[str]:
    """The counter owners of a message: its task or journey node, and its campaign."""
    return counting.owners(task_id=key.task_id, journey_id=key.journey_id, node_id=key.node_id,
                           campaign_id=campaign_id)


def _counted_write(workspace_id: str, item: MessageItem, *, actions: list[Any] | None, condition: Any,
                   owners: list[str], status: str, at: datetime, counted: frozenset[str] = frozenset(),
                   cost: float | None = None) -> None:
    """The message write (a put when ``actions`` is None, else an update) and its counter
    increments, in one transaction (``LostRace`` when the message's condition fails)."""
    decided = counting.on_status(status, counted, cost=cost)
    if not decided:  # nothing to count (a release for a retry): a plain write, half the units
        with dynamo.lost_race_on_conflict():
            if actions is None:
                item.save(condition=condition)
            else:
                item.update(actions=actions, condition=condition)
        return
    with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
        if actions is None:
            item.counted = set(decided.counted) or None
            tx.save(item, condition=condition)
        else:
            if decided:
                actions = [*actions, MessageItem.counted.set(set(decided.counted))]
            tx.update(item, actions=actions, condition=condition)
        counters_repo.add_to_transaction(tx, workspace_id, owners, decided.deltas, at)


def read(keys: Sequence[MessageKey]) -> dict[MessageKey, Record]:
    """The stored records of these messages (absent: never claimed nor dropped)."""
    table = settings.table("messages")
    by_key = {(k.pk, k.sk): k for k in keys}
    found = dynamo.batch_get({table: [dynamo.key(pk, sk) for pk, sk in by_key]})[table]
    records: dict[MessageKey, Record] = {}
    for raw in found:
        item = MessageItem.from_raw_data(raw)
        records[by_key[(item.pk, item.sk)]] = _record(item)
    return records


def _record(item: MessageItem) -> Record:
    return Record(
        status=item.status, version=int(item.version),
        lease_until=clock.parse_iso(item.lease_until) if item.lease_until else None,
        claim_token=item.claim_token, attempts=int(item.attempts or 0),
        history=tuple(HistoryItem(h.status, h.at, h.reason) for h in item.history or ()),
        provider_message_id=item.provider_message_id, created_at=item.created_at,
        campaign_id=item.campaign_id, fatigue_counter=item.fatigue_counter,
        counted=frozenset(item.counted or ()),
    )


def _history(entries: Sequence[HistoryItem]) -> list[HistoryEntry]:
    return [HistoryEntry(status=h.status, at=h.at, reason=h.reason) for h in entries]


@dataclass(frozen=True)
class ClaimWrite:
    key: MessageKey
    meta: Meta
    token: str
    lease_until: datetime
    now: datetime
    previous: Record | None  # None: a new record; else the record read (released or crashed)


def claim(write: ClaimWrite) -> bool:
    """Take the message for one provider call; False when another invocation got there first."""
    at = clock.iso(write.now)
    prev = write.previous
    history = with_history(prev.history if prev else (), CLAIMED, at, None)
    item = MessageItem(
        pk=write.key.pk, sk=write.key.sk, workspace_id=write.key.workspace_id, user_id=write.meta.user_id,
        channel=write.meta.channel, provider=write.meta.provider, provider_kind=write.meta.provider_kind,
        status=CLAIMED, status_at=at, history=_history(history),
        version=(prev.version + 1) if prev else 1, attempts=(prev.attempts if prev else 0) + 1,
        claim_token=write.token, lease_until=clock.iso(write.lease_until),
        idempotency_key=write.key.idempotency_key, created_at=(prev.created_at if prev and prev.created_at else at),
        campaign_id=write.meta.campaign_id or (prev.campaign_id if prev else None),
        fatigue_counter=write.meta.fatigue_counter or (prev.fatigue_counter if prev else None),
        counted=set(prev.counted) if prev and prev.counted else None,
        counter_owners=set(owners_of(write.key, write.meta.campaign_id or (prev.campaign_id if prev else None))) or None,
    )
    condition = MessageItem.pk.does_not_exist() if prev is None else (MessageItem.version == prev.version)
    return dynamo.save_if(item, condition)


@dataclass(frozen=True)
class OutcomeWrite:
    key: MessageKey
    token: str
    written: Written
    provider: str
    now: datetime
    campaign_id: str | None = None
    counted: frozenset[str] = frozenset()  # what the record had counted when read (a resend's)


def _outcome_actions(write: OutcomeWrite) -> tuple[list[Any], Any]:
    w = write.written
    actions: list[Any] = [
        MessageItem.status.set(w.status), MessageItem.status_at.set(clock.iso(write.now)),
        MessageItem.history.set(_history(w.history)), MessageItem.version.add(1),
        MessageItem.claim_token.remove(), MessageItem.lease_until.remove(),
        MessageItem.reason.set(w.reason) if w.reason else MessageItem.reason.remove(),
    ]
    if w.provider_message_id:
        actions += [MessageItem.provider_message_id.set(w.provider_message_id),
                    MessageItem.provider_key.set(f"{write.key.workspace_id}#{write.provider}#{w.provider_message_id}")]
    if w.cost is not None:
        actions.append(MessageItem.cost.set(w.cost))
    return actions, (MessageItem.claim_token == write.token) & (MessageItem.status == CLAIMED)


def record_outcome(write: OutcomeWrite) -> bool:
    """The provider's answer, by the claimant only (False: the claim is no longer ours)."""
    actions, condition = _outcome_actions(write)
    try:
        _counted_write(write.key.workspace_id, MessageItem(write.key.pk, write.key.sk), actions=actions, condition=condition,
                       owners=owners_of(write.key, write.campaign_id), status=write.written.status,
                       at=write.now, counted=write.counted, cost=write.written.cost)
        return True
    except dynamo.LostRace:
        logs.logger.error("claim lost before its outcome was written", extra={"message": str(write.key)})
        return False


def record_outcomes(writes: Sequence[OutcomeWrite]) -> list[bool]:
    """The answers of one provider call: the counted ones (sent, failed) in as few
    transactions as fit, their increments summed per owner (``counters.repo.commit``);
    releases for a retry (nothing counted) as plain conditional updates. False: the claim
    is no longer ours."""
    counted: list[int] = []
    updates: list[counters_repo.CountedUpdate] = []
    for i, write in enumerate(writes):
        decided = counting.on_status(write.written.status, write.counted, cost=write.written.cost)
        if not decided:
            continue
        actions, condition = _outcome_actions(write)
        counted.append(i)
        updates.append(counters_repo.CountedUpdate(
            MessageItem(write.key.pk, write.key.sk), [*actions, MessageItem.counted.set(set(decided.counted))],
            condition, write.key.workspace_id, tuple(owners_of(write.key, write.campaign_id)), decided.deltas,
            write.now))
    done: dict[int, bool] = dict(zip(counted, counters_repo.commit(updates)))
    plain = [i for i in range(len(writes)) if i not in done]
    done.update(zip(plain, parallel(record_outcome, [writes[i] for i in plain])))
    for i, ok in done.items():
        if not ok and i in counted:
            logs.logger.error("claim lost before its outcome was written", extra={"message": str(writes[i].key)})
    return [done[i] for i in range(len(writes))]


@dataclass(frozen=True)
class DropWrite:
    key: MessageKey
    meta: Meta
    status: str
    reason: str
    now: datetime


def drop(write: DropWrite) -> bool:
    """Record a message that is not sent (consent, fatigue, suppression), once."""
    at = clock.iso(write.now)
    item = MessageItem(
        pk=write.key.pk, sk=write.key.sk, workspace_id=write.key.workspace_id, user_id=write.meta.user_id,
        channel=write.meta.channel, provider=write.meta.provider, provider_kind=write.meta.provider_kind,
        status=write.status, status_at=at, reason=write.reason,
        history=_history([HistoryItem(write.status, at, write.reason)]), version=1, attempts=0,
        idempotency_key=write.key.idempotency_key, created_at=at, campaign_id=write.meta.campaign_id,
        counter_owners=set(owners_of(write.key, write.meta.campaign_id)) or None,
    )
    try:
        _counted_write(write.key.workspace_id, item, actions=None, condition=MessageItem.pk.does_not_exist(),
                       owners=owners_of(write.key, write.meta.campaign_id), status=write.status, at=write.now)
        return True
    except dynamo.LostRace:
        return False


def drop_many(writes: Sequence[DropWrite]) -> list[bool]:
    """Record many messages that are not sent, once each: as conditional updates
    (``attribute_not_exists(pk)``) in as few transactions as fit, with their counters
    summed per owner (``counters.repo.commit``: 2 WRU a message and 2 an owner per
    transaction, where one transaction each cost 2 + 2 an owner per message). False: the
    message was recorded meanwhile."""
    updates = []
    for write in writes:
        at = clock.iso(write.now)
        decided = counting.on_status(write.status, frozenset())
        owners = owners_of(write.key, write.meta.campaign_id)
        actions: list[Any] = [
            MessageItem.kind.set(MessageItem), MessageItem.workspace_id.set(write.key.workspace_id),
            MessageItem.user_id.set(write.meta.user_id), MessageItem.channel.set(write.meta.channel),
            MessageItem.provider.set(write.meta.provider), MessageItem.provider_kind.set(write.meta.provider_kind),
            MessageItem.status.set(write.status), MessageItem.status_at.set(at), MessageItem.reason.set(write.reason),
            MessageItem.history.set(_history([HistoryItem(write.status, at, write.reason)])),
            MessageItem.version.set(1), MessageItem.attempts.set(0),
            MessageItem.idempotency_key.set(write.key.idempotency_key), MessageItem.created_at.set(at),
        ]
        if write.meta.campaign_id:
            actions.append(MessageItem.campaign_id.set(write.meta.campaign_id))
        if owners:
            actions.append(MessageItem.counter_owners.set(set(owners)))
        if decided.counted:
            actions.append(MessageItem.counted.set(set(decided.counted)))
        updates.append(counters_repo.CountedUpdate(MessageItem(write.key.pk, write.key.sk), actions,
                                                   MessageItem.pk.does_not_exist(), write.key.workspace_id,
                                                   tuple(owners), decided.deltas, write.now))
    return counters_repo.commit(updates)


@dataclass(frozen=True)
class GiveUpWrite:
    key: MessageKey
    previous: Record
    reason: str
    now: datetime


def give_up(write: GiveUpWrite) -> bool:
    """Fail a crashed claimant's message without calling the provider again."""
    at = clock.iso(write.now)
    history = with_history(write.previous.history, "failed", at, write.reason)
    actions: list[Any] = [MessageItem.status.set("failed"), MessageItem.status_at.set(at), MessageItem.reason.set(write.reason),
               MessageItem.history.set(_history(history)), MessageItem.version.add(1),
               MessageItem.claim_token.remove(), MessageItem.lease_until.remove()]
    try:
        _counted_write(write.key.workspace_id, MessageItem(write.key.pk, write.key.sk), actions=actions,
                       condition=MessageItem.version == write.previous.version,
                       owners=owners_of(write.key, write.previous.campaign_id), status="failed",
                       at=write.now, counted=write.previous.counted)
        return True
    except dynamo.LostRace:
        return False


def parallel(fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
    """One conditional write each, on a few threads; the first alone, so the model's
    client exists before the threads share it."""
    if len(jobs) <= 1:
        return [fn(job) for job in jobs]
    first = fn(jobs[0])
    with ThreadPoolExecutor(max_workers=min(WRITE_CONCURRENCY, len(jobs) - 1)) as pool:
        return [first, *pool.map(fn, jobs[1:])]


def find_by_provider_id(workspace_id: str, provider: str, provider_message_id: str) -> tuple[str, str] | None:
    """The (pk, sk) of the message a provider knows by this id (receipts), or None.
    A Query on the keys-only index: items there carry no ``kind``, so it is read raw."""
    answer = aws.dynamodb().query(
        TableName=settings.table("messages"), IndexName="by_provider_id",
        KeyConditionExpression="provider_key = :k",
        ExpressionAttributeValues={":k": {"S": f"{workspace_id}#{provider}#{provider_message_id}"}},
    )
    items = answer.get("Items", [])
    return (items[0]["pk"]["S"], items[0]["sk"]["S"]) if items else None
