"""Messages on the receipts queue: a discriminated union on ``type``, and putting them there.

``receipts``: what a provider reported about messages it accepted, for one provider
account, each naming the message by the provider's message id; ``message_receipts``:
receipts we observed ourselves (a click on a per-recipient short link), each naming the
message by its key, so no provider id is needed; ``attempt`` counts how often receipts whose message was not found yet were put
back (a receipt can arrive before the sender's outcome write). ``inbound``: chat messages
users sent to a provider account.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter

from chalicelib import aws, clock
from chalicelib.config import settings
from chalicelib.providers.base import InboundMessage, Receipt, ReceiptStatus

MAX_PER_MESSAGE = 100   # receipts per queue message (well under 256 KB)
MAX_DELAY_SECONDS = 900


class QueuedReceipt(BaseModel):
    provider_message_id: str
    status: ReceiptStatus
    at: str
    reason: str | None = None
    address: str | None = None
    url: str | None = None

    @classmethod
    def of(cls, receipt: Receipt) -> "QueuedReceipt":
        return cls(provider_message_id=receipt.provider_message_id, status=receipt.status, at=clock.iso(receipt.at),
                   reason=receipt.reason, address=receipt.address, url=receipt.url)


class ReceiptsMessage(BaseModel):
    type: Literal["receipts"] = "receipts"
    workspace_id: str
    provider: str
    receipts: list[QueuedReceipt] = Field(min_length=1, max_length=MAX_PER_MESSAGE)
    attempt: int = 0


class KeyedReceipt(BaseModel):
    """A receipt addressed by message key (``str(MessageKey)``, "<pk>|<sk>")."""

    message_key: str = Field(min_length=3, pattern=r"^[^|]+\|.+$")
    status: ReceiptStatus
    at: str
    url: str | None = None
    reason: str | None = None
    address: str | None = None

    @property
    def pk_sk(self) -> tuple[str, str]:
        pk, sk = self.message_key.split("|", 1)
        return pk, sk


class MessageReceipts(BaseModel):
    type: Literal["message_receipts"] = "message_receipts"
    workspace_id: str
    provider: str | None = None   # a provider's receipts: only for messages it sent (None: our own, clicks)
    receipts: list[KeyedReceipt] = Field(min_length=1, max_length=MAX_PER_MESSAGE)
    attempt: int = 0


class QueuedInbound(BaseModel):
    channel: str
    address: str
    at: str
    text: str | None = None
    payload: dict[str, Any] = Field(default_factory=dict)
    provider_message_id: str | None = None

    @classmethod
    def of(cls, message: InboundMessage) -> "QueuedInbound":
        return cls(channel=message.channel, address=message.address, at=clock.iso(message.at), text=message.text,
                   payload=dict(message.payload), provider_message_id=message.provider_message_id)


class InboundMessages(BaseModel):
    type: Literal["inbound"] = "inbound"
    workspace_id: str
    provider: str
    messages: list[QueuedInbound] = Field(min_length=1, max_length=MAX_PER_MESSAGE)


QueueMessage = Union[ReceiptsMessage, MessageReceipts, InboundMessages]
ReceiptsQueueMessage = Annotated[QueueMessage, Field(discriminator="type")]
RECEIPTS_MESSAGE: TypeAdapter[QueueMessage] = TypeAdapter(ReceiptsQueueMessage)


def messages_for(workspace_id: str, provider: str, receipts: list[Receipt],
                 inbound: list[InboundMessage]) -> list[ReceiptsMessage | MessageReceipts | InboundMessages]:
    """What a callback puts on the queue: receipts and inbound messages, 100 a message;
    receipts that name our message key go by key (no lookup by provider message id)."""
    out: list[ReceiptsMessage | MessageReceipts | InboundMessages] = []
    keyed = [r for r in receipts if getattr(r, "message_key", None)]
    by_id = [r for r in receipts if not getattr(r, "message_key", None)]
    for start in range(0, len(by_id), MAX_PER_MESSAGE):
        out.append(ReceiptsMessage(workspace_id=workspace_id, provider=provider,
                                   receipts=[QueuedReceipt.of(r) for r in by_id[start:start + MAX_PER_MESSAGE]]))
    for start in range(0, len(keyed), MAX_PER_MESSAGE):
        out.append(MessageReceipts(workspace_id=workspace_id, provider=provider, receipts=[
            KeyedReceipt(message_key=getattr(r, "message_key"), status=r.status, at=clock.iso(r.at), url=r.url,
                         reason=r.reason, address=r.address) for r in keyed[start:start + MAX_PER_MESSAGE]]))
    for start in range(0, len(inbound), MAX_PER_MESSAGE):
        out.append(InboundMessages(workspace_id=workspace_id, provider=provider,
                                   messages=[QueuedInbound.of(m) for m in inbound[start:start + MAX_PER_MESSAGE]]))
    return out


def enqueue(messages: Sequence[QueueMessage], delay_seconds: int = 0) -> None:
    """SendMessageBatch, 10 a call; raises when SQS refuses any (the caller answers 5xx and
    the provider retries)."""
    url = aws.queue_url(settings.queue("receipts"))
    for start in range(0, len(messages), 10):
        entries: list[dict[str, Any]] = []
        for i, message in enumerate(messages[start:start + 10]):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": json.dumps(message.model_dump(mode="json"))}
            if delay_seconds:
                entry["DelaySeconds"] = min(MAX_DELAY_SECONDS, delay_seconds)
            entries.append(entry)
        answer = aws.sqs().send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"the receipts queue refused {len(answer['Failed'])} message(s)")
