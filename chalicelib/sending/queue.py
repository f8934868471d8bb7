"""Messages on the sends queue: a discriminated union on ``type``, and putting them there.

A ``send`` message carries one provider configuration (its kind, name and non-secret
settings: the provider registry is another slice), the message's origin (a task, or a
journey node and entry) and up to 100 recipients, each a message with a deterministic key.
A malformed message is dead-lettered by the handler with the reason, never guessed at.
"""
from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Annotated, Any, Literal, Union

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.providers import base as providers
from chalicelib.sending.messages import MessageKey

MAX_RECIPIENTS = 100
MAX_DELAY_SECONDS = 900  # SQS DelaySeconds ceiling


class ProviderRef(BaseModel):
    """The provider account by name (the sender reads its kind and settings from the
    registry), or a configuration given in full (kind and settings)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=64)
    kind: str | None = Field(None, min_length=1)
    settings: dict[str, Any] = Field(default_factory=dict)


class Recipient(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str = Field(min_length=1, max_length=255)
    to: str | None = Field(None, description="the address (phone, email, device token, URL)")
    content: dict[str, Any] = Field(default_factory=dict, description="rendered content (rendering: another slice)")


class SendMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["send"] = "send"
    workspace_id: str = Field(min_length=1)
    channel: str = Field(min_length=1)
    provider: ProviderRef
    task_id: str | None = Field(None, min_length=1)
    journey_id: str | None = Field(None, min_length=1)
    node_id: str | None = Field(None, min_length=1)
    entry_id: str | None = Field(None, min_length=1)
    recipients: list[Recipient] = Field(min_length=1, max_length=MAX_RECIPIENTS)
    not_before: AwareDatetime | None = Field(None, description="deferred: not to be sent before this time")
    template_id: str | None = Field(None, min_length=1, max_length=64,
                                    description="render each recipient's content from this approved template")
    event: dict[str, Any] | None = Field(None, description="properties of the triggering event, as templates see `event`")
    values: dict[str, Any] = Field(default_factory=dict, description="values of the template's declared variables")
    campaign_id: str | None = Field(None, min_length=1, max_length=64,
                                    description="the campaign it belongs to (counted for it too)")
    transactional: bool = Field(False, description="exempt from fatigue caps, quiet hours and unsubscribes "
                                                   "(never from bounces, complaints or manual suppression)")

    @model_validator(mode="after")
    def _origin_and_provider(self) -> "SendMessage":
        journey = (self.journey_id, self.node_id, self.entry_id)
        if self.task_id is None and any(part is None for part in journey):
            raise ValueError("a send needs task_id, or journey_id, node_id and entry_id")
        if self.task_id is not None and any(part is not None for part in journey):
            raise ValueError("a send belongs to a task or to a journey, not both")
        if self.provider.kind is None:
            return self  # resolved from the registry by the sender
        kind = providers.kinds().get(self.provider.kind)
        if kind is None:
            raise ValueError(f"no provider of kind {self.provider.kind!r}")
        if self.channel not in kind.channels:
            raise ValueError(f"a {self.provider.kind} provider does not send {self.channel} messages")
        return self

    def key(self, recipient: Recipient) -> MessageKey:
        return MessageKey(self.workspace_id, recipient.user_id, task_id=self.task_id,
                          journey_id=self.journey_id, node_id=self.node_id, entry_id=self.entry_id)

    def config(self) -> providers.ProviderConfig:
        assert self.provider.kind is not None, "the sender resolves a provider named only by the registry"
        return providers.ProviderConfig(self.workspace_id, self.provider.name, self.provider.kind,
                                        self.channel, dict(self.provider.settings))


SendsMessage = Annotated[Union[SendMessage], Field(discriminator="type")]
SENDS_MESSAGE: TypeAdapter[SendMessage] = TypeAdapter(SendsMessage)


def enqueue(messages: list[SendMessage], now: datetime) -> None:
    """Put sends on the queue (SendMessageBatch, 10 a call); deferred ones with a delay of
    up to 15 minutes (a longer wait is re-queued again when it comes back)."""
    url = aws.queue_url(settings.queue("sends"))
    for start in range(0, len(messages), 10):
        entries = []
        for i, message in enumerate(messages[start:start + 10]):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": json.dumps(message.model_dump(mode="json"))}
            if message.not_before is not None and message.not_before > now:
                wait = math.ceil((message.not_before - now).total_seconds())
                entry["DelaySeconds"] = min(MAX_DELAY_SECONDS, wait)
            entries.append(entry)
        answer = aws.sqs().send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"the sends queue refused {len(answer['Failed'])} message(s)")
