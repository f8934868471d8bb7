"""The steps queue: move journey cohorts one node on (``step``) and enter snapshot pages
(``enter``), through journeys/runtime.py, and close event-entry windows (``gather``,
journeys/gathering.py).

Every message is idempotent (deterministic cohort ids, conditional puts, a step marker
written with the counts), so a failed record is simply retried alone through
``batchItemFailures``; one that can never succeed is dead-lettered at once with its reason.
"""
from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import clock, logs
from chalicelib.handlers.messages import parse_or_dead_letter
from chalicelib.journeys import gathering, runtime
from chalicelib.journeys.gathering import GatherMessage


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch; returns the partial batch failure report."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=process_record, processor=processor, context=context))


def process_record(record: SQSRecord) -> None:
    logs.clear()
    logs.bind(message_id=record.message_id)
    message = parse_or_dead_letter(runtime.STEPS_MESSAGE, record.body, "steps")
    if message is None:
        return
    logs.bind(workspace_id=message.workspace_id, journey_id=message.journey_id)
    if isinstance(message, GatherMessage):
        entered = gathering.close(message, clock.now())
        logs.logger.info("journey entry window closed", extra={"users": entered, "window": message.window})
        return
    if isinstance(message, runtime.EnterMessage):
        entered = runtime.enter_page(message, clock.now())
        logs.logger.info("journey entry page", extra={"users": entered, "run_id": message.run_id})
        return
    outcome = runtime.step(message, clock.now())
    logs.logger.info("journey step", extra={"cohort_id": message.cohort_id, "outcome": outcome})
