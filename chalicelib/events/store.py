"""Storing queued events exactly once and keeping per-user aggregates.

Per chunk of events: read what the chunk needs (``repo.read_chunk``), decide
(``storing.plan_chunk``, pure), write (``repo.write_chunk``); a lost race re-reads and
decides again. A chunk that fails for a reason other than AWS being busy is split until
the event at fault stands alone; that one is dead-lettered with its reason and logged,
and every other event is stored.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import botocore.exceptions

from chalicelib import aws, dynamo, logs
from chalicelib.events import repo
from chalicelib.events.messages import EventsMessage, QueuedEvent
from chalicelib.events.storing import plan_chunk, plan_chunks

MAX_TRIES = 8


class RetryLater(Exception):
    """The chunk kept losing races, or AWS was unavailable; let SQS redeliver the message."""


@dataclass
class StoreResult:
    stored: int = 0
    skipped: int = 0  # already stored, or received before the user's erasure
    dead_lettered: int = 0

    def __iadd__(self, other: "StoreResult") -> "StoreResult":
        self.stored += other.stored
        self.skipped += other.skipped
        self.dead_lettered += other.dead_lettered
        return self


def store_message(message: EventsMessage, now: datetime) -> StoreResult:
    """Store one queued message's events; safe to call again with the same message."""
    retention = repo.retention_days(message.workspace_id)
    if retention is None:
        logs.logger.warning("workspace gone; dropping events", extra={"workspace_id": message.workspace_id})
        return StoreResult()
    unique: dict[tuple[str, str], QueuedEvent] = {}
    for event in message.events:
        unique.setdefault((event.user_id, event.event_id), event)
    result = StoreResult(skipped=len(message.events) - len(unique))
    for chunk in plan_chunks(list(unique.values())):
        result += _store_isolating(message, chunk, retention)
    return result


def _store_isolating(message: EventsMessage, events: Sequence[QueuedEvent], retention: int) -> StoreResult:
    """Store a chunk; if it fails on its data, halve it until the bad event stands alone."""
    try:
        return _store_chunk(message.workspace_id, events, retention, message.received_at)
    except Exception as error:  # noqa: BLE001 - classified right below
        if not is_bad_data(error):
            raise
        if len(events) > 1:
            half = len(events) // 2
            result = _store_isolating(message, events[:half], retention)
            result += _store_isolating(message, events[half:], retention)
            return result
        _dead_letter(message, events[0], error)
        return StoreResult(dead_lettered=1)


def _store_chunk(workspace_id: str, chunk: Sequence[QueuedEvent], retention: int, received_at: str) -> StoreResult:
    for attempt in range(MAX_TRIES):
        state = repo.read_chunk(workspace_id, chunk)
        plan = plan_chunk(chunk, state, received_at)
        if plan.empty:
            return StoreResult(skipped=len(chunk))
        try:
            repo.write_chunk(workspace_id, plan, retention, received_at)
            return StoreResult(stored=len(plan.events), skipped=len(chunk) - len(plan.events))
        except dynamo.LostRace:
            dynamo.backoff(attempt)
    raise RetryLater(f"{len(chunk)} events kept conflicting with concurrent writers")


_TRANSIENT = (RetryLater, dynamo.LostRace, botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)
_REFUSED_CODES = frozenset({"ValidationException", "SerializationException"})


def is_bad_data(error: BaseException) -> bool:
    """True when the data itself failed (DynamoDB refused it, or it could not be encoded),
    so retrying the same message can never succeed; False for AWS being busy or
    unreachable, missing tables or permissions, which a redelivery may get past."""
    if isinstance(error, _TRANSIENT) or aws.is_throttling(error):
        return False
    code = getattr(error, "cause_response_code", None)
    if code is None and isinstance(error, botocore.exceptions.ClientError):
        code = error.response.get("Error", {}).get("Code")
    if code is not None:
        return code in _REFUSED_CODES
    return isinstance(error, (ValueError, TypeError, ArithmeticError, KeyError, AttributeError))


def _dead_letter(message: EventsMessage, event: QueuedEvent, error: BaseException) -> None:
    reason = f"{type(error).__name__}: {error}"[:1000]
    logs.logger.error("event dead-lettered", extra={
        "workspace_id": message.workspace_id, "user_id": event.user_id, "event_id": event.event_id,
        "event_name": event.name, "reason": reason,
    })
    single = EventsMessage(workspace_id=message.workspace_id, received_at=message.received_at, events=[event])
    aws.dead_letter("events", single.model_dump_json(), reason)
