"""Accepting events over HTTP: validate, stamp, and hand them to the events queue.

Events are packed into as few SQS messages as the size limit allows (one message per
request for typical batches), so the HTTP side costs one GetItem (auth), one Query
(definitions) and usually one SendMessageBatch per request.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib import aws, clock, ids, logs
from chalicelib.config import settings
from chalicelib.errors import Invalid, Unavailable
from chalicelib.events import definitions
from chalicelib.events.messages import EraseMessage, EventsMessage, QueuedEvent
from chalicelib.events.schemas import EventsAccepted, EventsPost

MAX_FUTURE = timedelta(days=1)
MESSAGE_BYTES = 200_000   # per SQS message, under the 256 KiB limit with headroom
BATCH_BYTES = 250_000     # per SendMessageBatch call


def accept(workspace_id: str, post: EventsPost, now: datetime) -> EventsAccepted:
    """Validate the events, give them ids and times, and enqueue them (202)."""
    errors = definitions.check(post.events, definitions.all_types(workspace_id))
    if errors:
        raise Invalid(errors=errors)
    queued: list[QueuedEvent] = []
    for index, event in enumerate(post.events):
        moment = clock.parse_iso(event.timestamp) if event.timestamp else now
        if moment > now + MAX_FUTURE:
            raise Invalid(f"events[{index}].timestamp", "is more than a day in the future")
        queued.append(QueuedEvent(
            user_id=event.user_id, event_id=event.event_id or ids.new_id("ev"), name=event.name,
            ts=clock.iso(moment), properties=event.properties,
            claim=event.event_id is not None and event.timestamp is None,
        ))
    enqueue_events(workspace_id, queued, now)
    return EventsAccepted(accepted=len(queued), event_ids=[e.event_id for e in queued])


def pack(workspace_id: str, events: list[QueuedEvent], now: datetime) -> list[str]:
    """Message bodies of at most MESSAGE_BYTES (UTF-8) each, events in order."""
    groups: list[list[QueuedEvent]] = []
    size = 0
    for event in events:
        event_size = len(event.model_dump_json().encode()) + 1
        if not groups or size + event_size > MESSAGE_BYTES:
            groups.append([])
            size = 0
        groups[-1].append(event)
        size += event_size
    received_at = clock.iso(now)
    return [EventsMessage(workspace_id=workspace_id, received_at=received_at, events=g).model_dump_json() for g in groups]


def enqueue_events(workspace_id: str, events: list[QueuedEvent], now: datetime) -> None:
    send(pack(workspace_id, events, now))


def enqueue_erase(workspace_id: str, user_id: str) -> None:
    send([EraseMessage(workspace_id=workspace_id, user_id=user_id).model_dump_json()])


def send(bodies: list[str]) -> None:
    """SendMessageBatch, in as few calls as the 10-entry and byte limits allow."""
    url = aws.queue_url(settings.queue("events"))
    batch: list[str] = []
    size = 0
    for body in bodies:
        body_size = len(body.encode())
        if batch and (len(batch) == 10 or size + body_size > BATCH_BYTES):
            _send_batch(url, batch)
            batch, size = [], 0
        batch.append(body)
        size += body_size
    if batch:
        _send_batch(url, batch)


def _send_batch(url: str, bodies: list[str]) -> None:
    answer = aws.sqs().send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies)])
    if answer.get("Failed"):
        logs.logger.error("the events queue refused messages", extra={"failed": answer["Failed"][:3]})
        raise Unavailable("the events queue refused part of the request; send it again "
                          "(events with an event_id are stored once)")
