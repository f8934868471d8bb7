"""Event, event-definition and queue-message schemas."""
from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from chalicelib import clock
from chalicelib.profiles.schemas import USER_ID
from chalicelib.schemas import Request, Response

EVENT_NAME = r"^[A-Za-z$][A-Za-z0-9_.:\-$]{0,63}$"
EVENT_ID = r"^[A-Za-z0-9_.:\-]{1,64}$"
MAX_PROPERTIES_BYTES = 8_192
PropertyType = Literal["string", "number", "boolean", "datetime", "object", "array"]


class EventIn(Request):
    user_id: str = Field(pattern=USER_ID)
    name: str = Field(pattern=EVENT_NAME)
    event_id: str | None = Field(None, pattern=EVENT_ID, description="the client's id; retries with it are stored once")
    timestamp: str | None = Field(None, description="ISO-8601 with an offset; the receipt time when absent")
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                moment = clock.parse_iso(value)
            except ValueError as exc:
                raise ValueError(f"not an ISO-8601 time with an offset: {exc}") from None
            if moment.year < 1970:
                raise ValueError("must be 1970 or later")
        return value

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = len(json.dumps(value, allow_nan=False, default=str))
        if size > MAX_PROPERTIES_BYTES:
            raise ValueError(f"properties take at most {MAX_PROPERTIES_BYTES} bytes as JSON ({size} given)")
        return value


class EventsPost(Request):
    events: list[EventIn] = Field(min_length=1, max_length=500)


class EventsAccepted(Response):
    accepted: int
    event_ids: list[str]


class Event(Response):
    event_id: str
    user_id: str
    name: str
    timestamp: str
    received_at: str
    properties: dict[str, Any]


class EventsQuery(Request):
    name: str | None = Field(None, pattern=EVENT_NAME)
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = None


class EventDefinitionCreate(Request):
    name: str = Field(pattern=EVENT_NAME)
    description: str | None = Field(None, max_length=500)
    properties: dict[str, PropertyType] = Field(default_factory=dict, max_length=100)


class EventDefinition(Response):
    name: str
    description: str | None = None
    properties: dict[str, PropertyType]
    created_at: str
