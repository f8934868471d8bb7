"""The receipts queue: apply receipts to their messages, turn inbound chat messages into
events. Each record is one message of a discriminated union (``receipts.queue``); a record
that is not one is dead-lettered at once with the reason. A batch that raises (AWS busy)
is retried whole by Lambda: applying receipts is idempotent."""
from __future__ import annotations

from typing import Any

from chalicelib import clock, logs
from chalicelib.handlers.messages import parse_or_dead_letter
from chalicelib.receipts import applier, inbound
from chalicelib.receipts.queue import RECEIPTS_MESSAGE, InboundMessages, MessageReceipts, ReceiptsMessage


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch of receipts and inbound messages."""
    logs.clear()
    now = clock.now()
    receipts: list[ReceiptsMessage] = []
    keyed: list[MessageReceipts] = []
    chats: list[InboundMessages] = []
    for record in event.get("Records", []):
        message = parse_or_dead_letter(RECEIPTS_MESSAGE, record["body"], "receipts")
        if isinstance(message, ReceiptsMessage):
            receipts.append(message)
        elif isinstance(message, MessageReceipts):
            keyed.append(message)
        elif isinstance(message, InboundMessages):
            chats.append(message)
    if receipts:
        applied = applier.apply_batch(receipts, now)
        logs.logger.info("receipts batch", extra={"messages": len(receipts), **dict(applied.counts)})
    if keyed:
        applied = applier.apply_keyed(keyed, now)
        logs.logger.info("keyed receipts batch", extra={"messages": len(keyed), **dict(applied.counts)})
    if chats:
        logs.logger.info("inbound batch", extra={"messages": len(chats), "events": inbound.to_events(chats, now)})
    return {"batchItemFailures": []}
