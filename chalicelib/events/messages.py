"""Messages on the events queue."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

class QueuedEvent(BaseModel):
    user_id: str
    event_id: str
    name: str
    ts: str
    properties: dict[str, Any]


class EventsMessage(BaseModel):
    type: Literal["events"] = "events"
    workspace_id: str
    received_at: str
    events: list[QueuedEvent]


class EraseMessage(BaseModel):
    type: Literal["erase_user"] = "erase_user"
    workspace_id: str
    user_id: str
