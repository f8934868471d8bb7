"""Event, event-definition and queue-message schemas."""
from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from chalicelib import clock, storable
from chalicelib.profiles.schemas import UserId
from chalicelib.schemas import Request, Response, StorableMap, refuse, rule

EVENT_NAME_WORDS = ("an event name is 1-64 characters: letters, digits, '_', '.', ':', '-' or '$', "
                    "starting with a letter or '$'")
EVENT_NAME = rule(r"^[A-Za-z$][A-Za-z0-9_.:\-$]{0,63}$", EVENT_NAME_WORDS)
EVENT_ID = rule(r"^[A-Za-z0-9_.:\-]{1,64}$", "an event id is 1-64 characters: letters, digits, '_', '.', ':' or '-'")
MAX_PROPERTIES_BYTES = 8_192
MAX_DEFINED_PROPERTIES = 100
PropertyType = Literal["string", "number", "boolean", "datetime", "object", "array"]


def event_name_problem(name: str) -> str | None:
    return None if re.fullmatch(EVENT_NAME, name) else EVENT_NAME_WORDS


class EventIn(Request):
    user_id: UserId
    name: str = Field(pattern=EVENT_NAME)
    event_id: str | None = Field(None, pattern=EVENT_ID, description="the client's id; retries with it are stored once")
    timestamp: str | None = Field(None, description="ISO-8601 with an offset; the receipt time when absent")
    properties: StorableMap = Field(default_factory=dict, description=(
        f"at most {MAX_PROPERTIES_BYTES} bytes as UTF-8 JSON; numbers 0 or of magnitude 1e-130 to "
        "9.9999999999999999999999999999999999999e125 with at most 38 significant digits; object keys "
        "1-255 bytes without control characters; at most 32 levels of nesting"))

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            moment = clock.parse_iso(value)  # BadTime is a ValueError in words
            if moment.year < 1970:
                raise ValueError("must be 1970 or later")
        return value

    @field_validator("properties")
    @classmethod
    def _properties(cls, value: dict[str, Any]) -> dict[str, Any]:
        size = storable.json_size(value)
        if size > MAX_PROPERTIES_BYTES:
            raise ValueError(f"properties take at most {MAX_PROPERTIES_BYTES} bytes as UTF-8 JSON ({size} given)")
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


def _property_names(value: dict[str, str]) -> dict[str, str]:
    bad: list[tuple[tuple[str | int, ...], str]] = []
    for name in value:
        problem = storable.key_problem(name)
        if problem:
            bad.append(((name,), problem.replace("an object key", "a property name")))
    if bad:
        refuse(bad[:storable.MAX_PROBLEMS])
    return value


class EventDefinitionChange(Request):
    """The whole definition (PUT): an existing one accepts only compatible changes, a new
    description and added properties; changing a property's type or removing one is refused."""

    description: str | None = Field(None, max_length=500)
    properties: dict[str, PropertyType] = Field(
        default_factory=dict, max_length=MAX_DEFINED_PROPERTIES,
        description="property name -> type; a name is 1-255 bytes as UTF-8 without control characters")

    _names = field_validator("properties")(_property_names)


class EventDefinitionCreate(EventDefinitionChange):
    name: str = Field(pattern=EVENT_NAME)


class EventDefinition(Response):
    name: str
    description: str | None = None
    properties: dict[str, PropertyType]
    created_at: str
    updated_at: str | None = None
