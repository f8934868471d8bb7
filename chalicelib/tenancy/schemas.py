"""Workspace and API key schemas."""
from __future__ import annotations

from enum import Enum
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from pydantic import Field, field_validator, model_validator

from chalicelib.schemas import JsonInt, Request, Response

_ZONES = available_timezones()


class Role(str, Enum):
    viewer = "viewer"
    operator = "operator"
    admin = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 0, "operator": 1, "admin": 2}[self.value]


def _check_zone(value: str | None) -> str | None:
    if value is not None and value not in _ZONES and value != "UTC":
        raise ValueError(f"unknown IANA time zone {value!r}")
    if value is not None:
        ZoneInfo(value)
    return value


def _check_region(value: str | None) -> str | None:
    if value is not None and value not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError("a two-letter region code such as CN, US or GB (ISO 3166-1, upper case)")
    return value


REGION_DESCRIPTION = ("how phone numbers without + and a country code are read in uploaded id lists, e.g. CN; "
                      "unset: such numbers are malformed")


def _not_blank(value: str | None) -> str | None:
    if value is not None and not value.strip():
        raise ValueError("must not be blank")
    return value


class WorkspaceCreate(Request):
    name: str = Field(min_length=1, max_length=100)
    timezone: str = "UTC"
    event_retention_days: JsonInt | None = Field(None, ge=1, le=3650)
    default_region: str | None = Field(None, description=REGION_DESCRIPTION)

    _zone = field_validator("timezone")(_check_zone)
    _name = field_validator("name")(_not_blank)
    _region = field_validator("default_region")(_check_region)


class WorkspacePatch(Request):
    name: str | None = Field(None, min_length=1, max_length=100)
    timezone: str | None = None
    event_retention_days: JsonInt | None = Field(None, ge=1, le=3650)
    default_region: str | None = Field(None, description=REGION_DESCRIPTION)

    _zone = field_validator("timezone")(_check_zone)
    _name = field_validator("name")(_not_blank)
    _region = field_validator("default_region")(_check_region)

    @model_validator(mode="after")
    def _not_empty(self) -> "WorkspacePatch":
        # null means "no change", so {"name": null} asks for nothing, as {} does
        if all(getattr(self, field) is None for field in ("name", "timezone", "event_retention_days", "default_region")):
            raise ValueError("give at least one of name, timezone, event_retention_days, default_region")
        return self


class Workspace(Response):
    id: str
    name: str
    timezone: str
    event_retention_days: int
    default_region: str | None = None
    created_at: str
    updated_at: str


class ApiKeyCreate(Request):
    name: str = Field(min_length=1, max_length=100)
    role: Role

    _name = field_validator("name")(_not_blank)


class ApiKey(Response):
    id: str
    name: str
    role: Role
    hint: str = Field(description="the last characters of the secret, to tell keys apart")
    created_at: str


class ApiKeyCreated(ApiKey):
    secret: str = Field(description="the bearer token; shown once, stored only as a hash")


class WorkspaceCreated(Response):
    workspace: Workspace
    api_key: ApiKeyCreated
