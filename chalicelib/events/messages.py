"""Messages on the events queue: a discriminated union on ``type``.

An unknown or malformed message is not guessed at: the handler dead-letters it with the
reason (see handlers/events.py), so nothing is silently read as events.
"""
from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter


class QueuedEvent(BaseModel):
    user_id: str
    event_id: str
    name: str
    ts: str
    properties: dict[str, Any]
    claim: bool = Field(False, description="the client's id came without a time: claim the time given here, "
                                           "so that a retry is stored at the same key")


class EventsMessage(BaseModel):
    type: Literal["events"] = "events"
    workspace_id: str
    received_at: str
    events: list[QueuedEvent]


class EraseMessage(BaseModel):
    type: Literal["erase_user"] = "erase_user"
    workspace_id: str
    user_id: str


QueueMessage = Annotated[Union[EventsMessage, EraseMessage], Field(discriminator="type")]
QUEUE_MESSAGE: TypeAdapter[EventsMessage | EraseMessage] = TypeAdapter(QueueMessage)
