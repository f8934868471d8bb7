"""Messages, pure: their deterministic keys, the status order, and the sender's decisions.

Nothing here does I/O. The sender (``sending.sender``) reads records, asks these
functions what to do, and writes what they decide with DynamoDB conditions.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Literal, Union

from chalicelib.counters import counting

SHARDS = 16
HISTORY_LIMIT = 10
# A claim older than this belongs to a dead claimant: at least the sender function's
# timeout (60 s, .chalice/config.json), since Lambda stops an invocation at its timeout;
# plus a margin for clock skew between invocations.
LEASE_SECONDS = 90
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 900
OUTCOME_UNKNOWN = "outcome unknown after a crash; not resent"

CLAIMED = "claimed"  # internal: the sender holds the message and may be calling the provider
# Progress, in order; receipts only move a message forward.
PROGRESS = ("queued", CLAIMED, "sent", "delivered", "opened", "clicked")
# Terminal: nothing moves a message out of them. Ranked too, so that any two updates
# combine to one answer whatever their order.
TERMINAL = ("dropped_consent", "dropped_fatigue", "dropped_suppressed", "dropped_cancelled", "failed", "bounced",
            "complained")
STATUSES = tuple(s for s in PROGRESS if s != CLAIMED) + TERMINAL
RANK = {status: rank for rank, status in enumerate(PROGRESS + TERMINAL)}
FINAL = frozenset({"sent", "delivered", "opened", "clicked", *TERMINAL})  # the sender is done with it


def advance(current: str, update: str) -> str:
    """The status after ``update`` arrives at a message in ``current``: never backwards
    (a late "delivered" after "opened" changes nothing; a terminal status stays)."""
    return update if RANK[update] > RANK[current] else current


def is_terminal(status: str) -> bool:
    return status in TERMINAL


# --------------------------------------------------------------------------- keys


def shard_of(user_id: str) -> int:
    return int.from_bytes(hashlib.sha256(user_id.encode()).digest()[:4], "big") % SHARDS


@dataclass(frozen=True)
class MessageKey:
    """Which message this is: one per task and user, or per journey node, user and entry."""

    workspace_id: str
    user_id: str
    task_id: str | None = None
    journey_id: str | None = None
    node_id: str | None = None
    entry_id: str | None = None

    def __post_init__(self) -> None:
        journey = (self.journey_id, self.node_id, self.entry_id)
        if (self.task_id is None) == all(part is None for part in journey) or (
                self.task_id is None and any(part is None for part in journey)):
            raise ValueError("a message belongs to a task, or to a journey node and entry")

    @property
    def pk(self) -> str:
        owner = f"task#{self.task_id}" if self.task_id is not None else f"journey#{self.journey_id}"
        return f"{self.workspace_id}#{owner}#{shard_of(self.user_id):02d}"

    @property
    def sk(self) -> str:
        if self.task_id is not None:
            return f"user#{self.user_id}"
        return f"{self.node_id}#{self.entry_id}#{self.user_id}"

    @property
    def idempotency_key(self) -> str:
        """Stable across retries and crashes; given to providers that take one."""
        return hashlib.sha256(f"{self.pk}\x00{self.sk}".encode()).hexdigest()[:40]

    def __str__(self) -> str:
        return f"{self.pk}|{self.sk}"


def task_partitions(workspace_id: str, task_id: str) -> list[str]:
    """The partition keys holding a task's messages (list them with one Query each)."""
    return [f"{workspace_id}#task#{task_id}#{shard:02d}" for shard in range(SHARDS)]


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class HistoryItem:
    status: str
    at: str
    reason: str | None = None


@dataclass(frozen=True)
class Record:
    """What the sender needs of a stored message."""

    status: str
    version: int
    lease_until: datetime | None = None
    claim_token: str | None = None
    attempts: int = 0
    history: tuple[HistoryItem, ...] = ()
    provider_message_id: str | None = None
    created_at: str | None = None
    campaign_id: str | None = None
    fatigue_counter: str | None = None   # the fatigue counter it holds a place in (sender.release on failure)
    counted: frozenset[str] = frozenset()  # counters incremented for it, or counted by its batch (counters.counting)
    count_batch: str | None = None          # the provider batch whose counting transaction counts its outcome
    batch_counts: frozenset[str] = frozenset()  # what that transaction counts for it
    cost: float | None = None
    outcomes_batch: str | None = None       # its provider call's outcomes item, where "sent" may be recorded


@dataclass(frozen=True)
class Accepted:
    """A message its provider call accepted, as that call's outcomes item records it."""

    at: str
    provider_message_id: str | None
    cost: float | None


def as_sent(record: Record, accepted: Accepted) -> Record:
    """A claimed record whose provider call's outcomes item lists it, read as its own
    outcome write would have left it: sent, with the provider's id and the cost, the
    history entry, and what the batch's counting transaction counts for it (so receipts
    and redeliveries never count it again, and a crash before that transaction is
    counted once by ``sender._recover_counts``)."""
    decided = counting.on_status("sent", record.counted, cost=accepted.cost)
    return replace(record, status="sent", claim_token=None, lease_until=None,
                   history=with_history(record.history, "sent", accepted.at, None),
                   provider_message_id=accepted.provider_message_id or record.provider_message_id,
                   cost=accepted.cost, counted=record.counted | decided.counted, count_batch=record.outcomes_batch,
                   batch_counts=frozenset(name for name in decided.deltas if name != "cost"))


def with_history(history: tuple[HistoryItem, ...], status: str, at: str, reason: str | None) -> tuple[HistoryItem, ...]:
    """The history with one more entry, keeping the first and the latest ones within the limit."""
    entries = (*history, HistoryItem(status, at, reason))
    if len(entries) <= HISTORY_LIMIT:
        return entries
    return (entries[0], *entries[-(HISTORY_LIMIT - 1):])


# --------------------------------------------------------------------------- decisions
# Steps before the claim (rendering, consent, fatigue) return one Decision per message.


@dataclass(frozen=True)
class Send:
    """Go on to the claim and the provider (holding a place in this fatigue counter, if any)."""

    fatigue_counter: str | None = None


@dataclass(frozen=True)
class Drop:
    """Do not send; record the message with this terminal status and reason."""

    status: str
    reason: str


@dataclass(frozen=True)
class Defer:
    """Not now: send again at ``until`` (quiet hours)."""

    until: datetime
    reason: str


Decision = Union[Send, Drop, Defer]


# What the sender does with a message, given its stored record (claim decisions).


@dataclass(frozen=True)
class Claim:
    """Nobody holds it: claim it (a new record, or a released one at ``version``) and send."""

    version: int | None


@dataclass(frozen=True)
class Done:
    """Already decided (sent, failed, dropped): nothing to do, never call the provider."""

    status: str


@dataclass(frozen=True)
class Wait:
    """Another invocation holds the claim (or held it a moment ago): look again later."""

    seconds: int


@dataclass(frozen=True)
class Resend:
    """A crashed claimant's message, for a provider that takes an idempotency key: claim it
    again and call with the same key, so the provider sends it at most once."""

    version: int


@dataclass(frozen=True)
class GiveUp:
    """A crashed claimant's message, for a provider without an idempotency key: it may or
    may not have been sent; mark it failed rather than risk a second send."""

    version: int
    reason: str = OUTCOME_UNKNOWN


ClaimDecision = Union[Claim, Done, Wait, Resend, GiveUp]


def decide_claim(record: Record | None, *, idempotent_provider: bool, now: datetime) -> ClaimDecision:
    """What to do with a message given its record (None: never seen)."""
    if record is None:
        return Claim(version=None)
    if record.status in FINAL:
        return Done(record.status)
    if record.status == "queued":  # released after a retryable provider error
        return Claim(version=record.version)
    # claimed
    if record.lease_until is not None and now < record.lease_until:
        return Wait(max(1, math.ceil((record.lease_until - now).total_seconds())))
    if idempotent_provider:
        return Resend(version=record.version)
    return GiveUp(version=record.version)


def count_wait(record: Record, now: datetime) -> int:
    """Seconds to wait before counting, from a redelivery, a recorded outcome whose batch
    is not counted yet (0: count it now): its own invocation may still be counting it
    until a lease after the outcome."""
    at = next((h.at for h in reversed(record.history) if h.status in ("sent", "failed")), None)
    if at is None:
        return 0
    left = (datetime.fromisoformat(at.replace("Z", "+00:00")) + timedelta(seconds=LEASE_SECONDS) - now).total_seconds()
    return max(0, math.ceil(left))


def lease_until(now: datetime) -> datetime:
    return now + timedelta(seconds=LEASE_SECONDS)


# Outcomes recorded together (one item for a provider call) carry no per-message condition
# on the claim token, so they are written, and counted, only while the claims are surely
# still ours: well before the lease ends (the sender's 60 s timeout ends it first on
# Lambda). Past this, the per-message conditional writes are used, or the redelivery counts.
TOGETHER_MARGIN_SECONDS = 30


def claims_still_ours(lease: datetime, now: datetime) -> bool:
    return now < lease - timedelta(seconds=TOGETHER_MARGIN_SECONDS)


# --------------------------------------------------------------------------- outcomes

Outcome = Literal["accepted", "retryable", "permanent"]


@dataclass(frozen=True)
class Written:
    """A status write after a provider call (or instead of one)."""

    status: str
    reason: str | None = None
    provider_message_id: str | None = None
    cost: float | None = None
    history: tuple[HistoryItem, ...] = field(default=())


def after_call(history: tuple[HistoryItem, ...], outcome: Outcome, at: str, *, reason: str | None,
               provider_message_id: str | None, cost: float | None) -> Written:
    """The record after the provider answered: sent, failed, or released for a retry."""
    if outcome == "accepted":
        return Written("sent", None, provider_message_id, cost, with_history(history, "sent", at, None))
    if outcome == "permanent":
        why = reason or "the provider refused the message"
        return Written("failed", why, None, None, with_history(history, "failed", at, why))
    why = reason or "the provider asked to retry later"
    return Written("queued", why, None, None, with_history(history, "queued", at, why))


def retry_delay(receive_count: int, retry_after: float | None = None) -> int:
    """Seconds before a retryable message is seen again: doubling from 30 s to 15 min,
    at least what the provider asked for (Retry-After)."""
    backoff = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** max(0, receive_count - 1))
    if retry_after is not None:
        backoff = max(backoff, min(RETRY_MAX_SECONDS, math.ceil(retry_after)))
    return int(backoff)
