"""The sends queue: send each message at most once, and record it.

Each record is one message of a discriminated union (``sending.queue``), dispatched by its
``type``; the whole batch goes to the sender at once, so records are read, claimed and
sent to providers in batches. A record with a message that must be tried again (a
retryable provider error, a claim held by another invocation) is reported in
``batchItemFailures`` after its visibility is set to the backoff; a record that can never
succeed (not JSON, an unknown type, a malformed message) is dead-lettered at once with
its reason and logged at error level.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws, clock, logs
from chalicelib.config import settings
from chalicelib.handlers.messages import parse_or_dead_letter
from chalicelib.sending import queue, sender

HANDLERS: dict[str, Callable[[Sequence[sender.Job], datetime], sender.Report]] = {"send": sender.send_batch}


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch; returns the partial batch failure report."""
    logs.clear()
    now = clock.now()
    jobs: dict[str, list[sender.Job]] = defaultdict(list)
    handles: dict[str, str] = {}
    for record in event.get("Records", []):
        message_id = record["messageId"]
        message = parse_or_dead_letter(queue.SENDS_MESSAGE, record["body"], "sends")
        if message is None:
            continue
        handles[message_id] = record.get("receiptHandle", "")
        receives = int((record.get("attributes") or {}).get("ApproximateReceiveCount", 1))
        jobs[message.type] += [sender.Job(message_id, receives, message, r) for r in message.recipients]
    retry: dict[str, int] = {}
    for kind, of_kind in jobs.items():
        report = HANDLERS[kind](of_kind, now)
        logs.logger.info("sends batch", extra={"type": kind, "messages": len(of_kind), **dict(report.counts)})
        for record_id, seconds in report.retry.items():
            retry[record_id] = max(seconds, retry.get(record_id, 0))
    _back_off({handles[r]: s for r, s in retry.items()})
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in retry]}


def _back_off(waits: dict[str, int]) -> None:
    """Hide the records to retry for their backoff (Lambda leaves a failed record's
    visibility as it is). Best effort: if this fails, the queue's timeout applies."""
    if not waits:
        return
    entries = [{"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": s} for i, (h, s) in enumerate(waits.items())]
    try:
        url = aws.queue_url(settings.queue("sends"))
        for start in range(0, len(entries), 10):
            aws.sqs().change_message_visibility_batch(QueueUrl=url, Entries=entries[start:start + 10])
    except (ClientError, BotoCoreError) as error:
        logs.logger.warning("could not set the retry backoff", extra={"error": type(error).__name__})
