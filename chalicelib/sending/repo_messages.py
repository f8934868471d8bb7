"""The sender's DynamoDB calls on the messages table, returning plain data.

Reads are one BatchGetItem per 100 messages (the sender's eventually consistent: every
write after it is conditional). Every write is a conditional write on one message (the
invariants are conditions, never read-then-write):

* claim:   PutItem, ``attribute_not_exists(pk)`` (new) or ``version = :read`` (released or
           crashed claim), status ``claimed`` with a token and a lease;
* outcome: UpdateItem, ``claim_token = :mine AND status = claimed``, a plain write naming
           its provider batch (``count_batch``); the batch's counters then move in one
           transaction (``count_outcomes``), or message by message after a crash
           (``recover_counts``), each exactly once;
* accepted together: for providers whose receipts name our key (no ``by_provider_id``
           entry to write), the messages a call accepted are one PutItem for the call
           (``record_accepted``: the batch's outcomes item) instead of one outcome write
           each; they stay ``claimed``, naming that item (``outcomes_batch``, set by the
           claim), and every read here resolves them to ``sent`` (``read``,
           ``settle_items``, ``accepted_in``);
* drop:    PutItem, ``attribute_not_exists(pk)``, a terminal status;
* give up: UpdateItem, ``version = :read``, ``failed`` with "outcome unknown".

Drops and give-ups are transactions with the counters they increment (``counters``): a
counter moves if and only if the status does (TransactWriteItems: twice the write units).

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
from chalicelib.models.messages import CountBatchItem, HistoryEntry, MessageItem
from chalicelib.sending.messages import (
    CLAIMED, Accepted, HistoryItem, MessageKey, Record, Written, as_sent, with_history,
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


def read(keys: Sequence[MessageKey], *, consistent: bool = True) -> dict[MessageKey, Record]:
    """The stored records of these messages (absent: never claimed nor dropped). The
    sender reads eventually consistent (half the units): every write it then makes is
    conditional, so a stale record costs a lost race and a look again, never a second send."""
    table = settings.table("messages")
    by_key = {(k.pk, k.sk): k for k in keys}
    found = dynamo.batch_get({table: [dynamo.key(pk, sk) for pk, sk in by_key]}, consistent=consistent)[table]
    records: dict[MessageKey, Record] = {}
    for raw in found:
        item = MessageItem.from_raw_data(raw)
        records[by_key[(item.pk, item.sk)]] = _record(item)
    return resolve(records)


def resolve(records: dict[MessageKey, Record]) -> dict[MessageKey, Record]:
    """The records with every claimed message its provider call's outcomes item lists read
    as sent (``messages.as_sent``); one BatchGetItem for the calls named, none when no
    record waits on one."""
    waiting = [(k, r) for k, r in records.items() if r.status == CLAIMED and r.outcomes_batch]
    if not waiting:
        return records
    accepted = accepted_in({(k.workspace_id, r.outcomes_batch or "", str(k), k.idempotency_key) for k, r in waiting})
    return {k: (as_sent(r, accepted[str(k)]) if str(k) in accepted else r) for k, r in records.items()}


def _record(item: MessageItem) -> Record:
    return Record(
        status=item.status, version=int(item.version),
        lease_until=clock.parse_iso(item.lease_until) if item.lease_until else None,
        claim_token=item.claim_token, attempts=int(item.attempts or 0),
        history=tuple(HistoryItem(h.status, h.at, h.reason) for h in item.history or ()),
        provider_message_id=item.provider_message_id, created_at=item.created_at,
        campaign_id=item.campaign_id, fatigue_counter=item.fatigue_counter,
        counted=frozenset(item.counted or ()), count_batch=item.count_batch,
        batch_counts=frozenset(item.batch_counts or ()), cost=float(item.cost) if item.cost is not None else None,
        outcomes_batch=item.outcomes_batch,
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
    outcomes_batch: str | None = None  # the call's outcomes item, when accepted messages are recorded together


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
        outcomes_batch=write.outcomes_batch,
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
    batch: str | None = None               # the provider batch's token: its counting transaction counts this
    indexed: bool = True                   # False: the provider's receipts name our key, no by_provider_id entry


def _outcome_actions(write: OutcomeWrite) -> tuple[list[Any], Any]:
    w = write.written
    actions: list[Any] = [
        MessageItem.status.set(w.status), MessageItem.status_at.set(clock.iso(write.now)),
        MessageItem.history.set(_history(w.history)), MessageItem.version.add(1),
        MessageItem.claim_token.remove(), MessageItem.lease_until.remove(),
        MessageItem.reason.set(w.reason) if w.reason else MessageItem.reason.remove(),
    ]
    if w.provider_message_id:
        actions.append(MessageItem.provider_message_id.set(w.provider_message_id))
        if write.indexed:
            actions.append(MessageItem.provider_key.set(f"{write.key.workspace_id}#{write.provider}#{w.provider_message_id}"))
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


def _outcome_write(job: tuple[OutcomeWrite, list[Any], Any]) -> bool:
    write, actions, condition = job
    try:
        with dynamo.lost_race_on_conflict():
            MessageItem(write.key.pk, write.key.sk).update(actions=actions, condition=condition)
        return True
    except dynamo.LostRace:
        logs.logger.error("claim lost before its outcome was written", extra={"message": str(write.key)})
        return False


def record_outcomes(writes: Sequence[OutcomeWrite]) -> list[bool]:
    """The answers of one provider call, one plain conditional UpdateItem per message
    (``claim_token = :mine AND status = claimed``; 1 WRU, not a transaction's 2). A counted
    outcome (sent, failed) names the provider batch (``count_batch``) and what its counting
    transaction counts for it (``batch_counts``); ``counted`` already says so, so receipts
    never count it again. The counters move once per batch, after these writes
    (``count_outcomes``). False: the claim is no longer ours."""
    jobs = []
    for write in writes:
        actions, condition = _outcome_actions(write)
        decided = counting.on_status(write.written.status, write.counted, cost=write.written.cost)
        if decided:
            if write.batch is None:
                raise ValueError("a counted outcome needs its provider batch's token")
            actions += [MessageItem.counted.set(set(decided.counted)), MessageItem.count_batch.set(write.batch),
                        MessageItem.batch_counts.set({name for name in decided.deltas if name != "cost"})]
        jobs.append((write, actions, condition))
    return parallel(_outcome_write, jobs)


OUTCOMES_SK = "outcomes"


def record_accepted(workspace_id: str, token: str, provider_kind: str, writes: Sequence[OutcomeWrite], now: datetime) -> None:
    """The messages one provider call accepted, in one PutItem for the call (its outcomes
    item: ceil(KB) WRU for the call, where one outcome write each cost 1 WRU a message).
    Only for providers whose receipts name our key: there is no ``by_provider_id`` entry
    to write, so nothing per message is left to store. A provider id the kind derives from
    our key (``Provider.message_id_of``) is stored as "". ``attribute_not_exists(pk)``: the
    token is this call's alone, so a failed condition is this request's own earlier try."""
    kind = _kind(provider_kind)
    sent: dict[str, Any] = {}
    costs: dict[str, Any] = {}
    common = writes[0].written.cost if writes else None
    for write in writes:
        digest = message_digest(write.key)
        pid = write.written.provider_message_id or ""
        derived = kind.message_id_of(str(write.key)) if kind is not None else None
        sent[digest] = {"S": "" if pid == derived else pid}
        if write.written.cost != common and write.written.cost is not None:
            costs[digest] = {"N": str(write.written.cost)}
    item: dict[str, Any] = {
        "pk": {"S": batch_pk(workspace_id, token)}, "sk": {"S": OUTCOMES_SK}, "kind": {"S": "batch_outcomes"},
        "at": {"S": clock.iso(now)}, "provider_kind": {"S": provider_kind}, "sent": {"M": sent},
    }
    if common is not None:
        item["cost"] = {"N": str(common)}
    if costs:
        item["costs"] = {"M": costs}
    try:
        aws.dynamodb().put_item(TableName=settings.table("messages"), Item=item,
                                ConditionExpression="attribute_not_exists(pk)")
    except aws.dynamodb().exceptions.ConditionalCheckFailedException:
        pass  # written by this request's earlier try (the SDK retried after a timeout)


def _kind(provider_kind: str) -> Any:
    from chalicelib import providers  # registers the kinds (not at import: readers rarely need them)

    return providers.base.kinds().get(provider_kind)


def accepted_in(wanted: set[tuple[str, str, str, str]]) -> dict[str, Accepted]:
    """Of (workspace, outcomes item token, message key "<pk>|<sk>", idempotency key), the
    messages their call's outcomes item lists as accepted, by message key: one strongly
    consistent BatchGetItem per 100 items (consistent: a redelivery must never take a
    recorded message for a crashed claimant's)."""
    table = settings.table("messages")
    tokens = {(ws, token) for ws, token, _, _ in wanted}
    found = dynamo.batch_get({table: [dynamo.key(batch_pk(ws, t), OUTCOMES_SK) for ws, t in sorted(tokens)]})[table]
    items = {raw["pk"]["S"]: raw for raw in found}  # read raw: ``sent`` is a map keyed by digests
    out: dict[str, Accepted] = {}
    for ws, token, message_key, idempotency_key in wanted:
        item = items.get(batch_pk(ws, token))
        digest = digest_of(idempotency_key)
        sent = (item or {}).get("sent", {}).get("M", {})
        if item is None or digest not in sent:
            continue
        pid: str | None = sent[digest]["S"] or None
        if pid is None:
            kind = _kind(item["provider_kind"]["S"])
            pid = kind.message_id_of(message_key) if kind is not None else None
        cost = item.get("costs", {}).get("M", {}).get(digest) or item.get("cost")
        out[message_key] = Accepted(item["at"]["S"], pid, float(cost["N"]) if cost else None)
    return out


def settle_items(items: Sequence[MessageItem]) -> list[MessageItem]:
    """The items (changed in place, not written) with every claimed message its provider
    call's outcomes item lists shown as sent: status, time, history, provider id, cost.
    For readers of whole items (the task's message list, its export, receipts)."""
    waiting = {f"{i.pk}|{i.sk}": i for i in items if i.status == CLAIMED and i.outcomes_batch}
    if not waiting:
        return list(items)
    accepted = accepted_in({(i.workspace_id, i.outcomes_batch or "", key, i.idempotency_key)
                            for key, i in waiting.items()})
    for key, item in waiting.items():
        if key not in accepted:
            continue
        record = as_sent(_record(item), accepted[key])
        item.status, item.status_at = "sent", record.history[-1].at
        item.history = _history(record.history)
        item.provider_message_id, item.cost = record.provider_message_id, record.cost
        item.counted, item.count_batch = set(record.counted) or None, record.count_batch
        item.batch_counts = set(record.batch_counts) or None
        item.claim_token = item.lease_until = None
    return list(items)


def read_item(key: MessageKey) -> MessageItem | None:
    """One message's whole item as readers see it (settled: ``settle_items``), or None."""
    try:
        item = MessageItem.get(key.pk, key.sk, consistent_read=True)
    except MessageItem.DoesNotExist:
        return None
    return settle_items([item])[0]


BATCH_EXPIRES_DAYS = 15  # longer than the sends queue keeps a message (14 days at most)


def batch_pk(workspace_id: str, token: str) -> str:
    return f"{workspace_id}#countbatch#{token}"


def message_digest(key: MessageKey) -> str:
    """A message's short name in a batch's ``counted_keys`` and in an outcomes item."""
    return digest_of(key.idempotency_key)


def digest_of(idempotency_key: str) -> str:
    return idempotency_key[:16]


def outcome_counts(write: OutcomeWrite) -> counters_repo.Counts:
    decided = counting.on_status(write.written.status, write.counted, cost=write.written.cost)
    return counters_repo.Counts(write.key.workspace_id, tuple(owners_of(write.key, write.campaign_id)),
                                decided.deltas, write.now)


def count_outcomes(workspace_id: str, token: str, writes: Sequence[OutcomeWrite], now: datetime) -> bool:
    """Count a provider batch's recorded outcomes once: one transaction that creates the
    batch's item as ``recorded`` (``attribute_not_exists(pk)``) and adds the batch's
    increments summed per owner and hour (2 WRU + 2 an owner, for the whole batch).
    False when a redelivery already began counting the batch's messages one by one (after
    a crash, ``recover_counts``): then nothing is counted here, and the caller has the
    records redelivered so that each message is counted by that path."""
    counts = [c for c in map(outcome_counts, writes) if c.deltas]
    if not counts:
        return True
    expires = int(now.timestamp()) + BATCH_EXPIRES_DAYS * 86400
    try:
        counters_repo.commit_with(
            CountBatchItem(batch_pk(workspace_id, token), "batch"),
            [CountBatchItem.kind.set(CountBatchItem), CountBatchItem.state.set("recorded"),
             CountBatchItem.expires_at.set(expires)],
            CountBatchItem.pk.does_not_exist(), counts)
        return True
    except counters_repo.Refused:
        return False


@dataclass(frozen=True)
class BatchState:
    recorded: bool
    counted_keys: frozenset[str] = frozenset()


def read_batches(workspace_id: str, tokens: Sequence[str]) -> dict[str, BatchState]:
    """The counting state of these provider batches (absent: nothing counted yet)."""
    table = settings.table("messages")
    found = dynamo.batch_get({table: [dynamo.key(batch_pk(workspace_id, t), "batch") for t in dict.fromkeys(tokens)]})[table]
    out = {}
    for raw in found:
        item = CountBatchItem.from_raw_data(raw)
        out[item.pk.rsplit("#", 1)[1]] = BatchState(item.state == "recorded", frozenset(item.counted_keys or ()))
    return out


def recovered_counts(key: MessageKey, record: Record) -> counters_repo.Counts:
    """What a batch's counting transaction would have counted for this message."""
    deltas: dict[str, float] = {name: 1 for name in sorted(record.batch_counts)}
    if "sent" in record.batch_counts and record.cost:
        deltas["cost"] = record.cost
    at = next((h.at for h in reversed(record.history) if h.status in ("sent", "failed")), None)
    return counters_repo.Counts(key.workspace_id, tuple(owners_of(key, record.campaign_id)), deltas,
                                clock.parse_iso(at) if at else clock.now())


def recover_counts(workspace_id: str, token: str, messages: Sequence[tuple[MessageKey, Record]], now: datetime) -> bool:
    """Count, after a crash between a batch's outcome writes and its counting transaction,
    the outcomes of these messages of that batch: one transaction adding their digests to
    the batch item's ``counted_keys`` (condition: the batch not ``recorded`` and none of
    them counted yet) with their increments. False when the condition failed (the batch or
    one of them was counted meanwhile: read again and decide)."""
    if not messages:
        return True
    digests = [message_digest(k) for k, _ in messages]
    condition = CountBatchItem.state.does_not_exist()
    fresh = CountBatchItem.counted_keys.does_not_exist()
    unseen = None
    for digest in digests:
        clause = ~CountBatchItem.counted_keys.contains(digest)
        unseen = clause if unseen is None else unseen & clause
    condition = condition & (fresh | unseen)
    expires = int(now.timestamp()) + BATCH_EXPIRES_DAYS * 86400
    try:
        counters_repo.commit_with(
            CountBatchItem(batch_pk(workspace_id, token), "batch"),
            [CountBatchItem.kind.set(CountBatchItem), CountBatchItem.counted_keys.add(set(digests)),
             CountBatchItem.expires_at.set(expires)],
            condition, [recovered_counts(k, r) for k, r in messages])
        return True
    except counters_repo.Refused:
        return False


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
