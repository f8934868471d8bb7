"""The events queue: store events and aggregates, continue large erasures.

Each record is one message of a discriminated union (``events.messages``), dispatched by
its ``type``. A record that fails for a passing reason is reported in
``batchItemFailures``, so only it is retried (and dead-lettered by SQS after
maxReceiveCount); a record that can never succeed (not JSON, an unknown type, a malformed
message) is dead-lettered at once with its reason and logged at error level. Every message
kind is idempotent: redelivery stores and counts nothing twice.
"""
from __future__ import annotations

from typing import Any, Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import clock, logs
from chalicelib.events import store
from chalicelib.events.messages import QUEUE_MESSAGE, EraseMessage, EventsMessage
from chalicelib.handlers.messages import parse_or_dead_letter
from chalicelib.journeys import event_entry, goals, waiters
from chalicelib.profiles import profiles


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch; returns the partial batch failure report."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=process_record, processor=processor, context=context))


def _store_events(message: EventsMessage) -> None:
    result = store.store_message(message, clock.now())
    logs.logger.info("events stored", extra={"stored": result.stored, "skipped": result.skipped,
                                             "dead_lettered": result.dead_lettered})
    now = clock.now()
    listening = event_entry.listener_items(message.workspace_id)  # one Query for the three below
    if not listening:
        return
    event_entry.on_events(message, now, listening)  # journeys triggered by these events (idempotent)
    goals.on_events(message, now, listening)  # goal conversions and exits (before judgments move anyone)
    waiters.on_events(message, now, listening)  # users waiting in event judgments for these events


def _erase(message: EraseMessage) -> None:
    profiles.continue_erasure(message.workspace_id, message.user_id)


HANDLERS: dict[str, Callable[[Any], None]] = {"events": _store_events, "erase_user": _erase}


def process_record(record: SQSRecord) -> None:
    logs.clear()  # keys from the previous record (or warm invocation) must not leak into this one
    logs.bind(message_id=record.message_id)
    message = parse_or_dead_letter(QUEUE_MESSAGE, record.body, "events")
    if message is None:
        return
    logs.bind(workspace_id=message.workspace_id, message_type=message.type)
    HANDLERS[message.type](message)
