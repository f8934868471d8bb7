"""The events queue: store events and aggregates, continue large erasures.

Each record is one message; a failing record is reported in ``batchItemFailures`` so
only it is retried (and after maxReceiveCount, dead-lettered). Both message kinds are
idempotent, so redelivery stores and counts nothing twice.
"""
from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import clock, logs
from chalicelib.events import store
from chalicelib.events.messages import EraseMessage, EventsMessage
from chalicelib.profiles import profiles


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch; returns the partial batch failure report."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=process_record, processor=processor, context=context))


def process_record(record: SQSRecord) -> None:
    body = json.loads(record.body)
    logs.clear()  # keys from the previous record (or warm invocation) must not leak into this one
    logs.bind(message_id=record.message_id, workspace_id=body.get("workspace_id"))
    if body.get("type") == "erase_user":
        erase = EraseMessage.model_validate(body)
        profiles.continue_erasure(erase.workspace_id, erase.user_id)
        return
    message = EventsMessage.model_validate(body)
    result = store.store_message(message, clock.now())
    logs.logger.info("events stored", extra={"stored": result.stored, "skipped": result.skipped})
