"""Profile and tag schemas."""
from __future__ import annotations

import json
import math
import re
from typing import Any

from pydantic import Field, field_validator, model_validator

from chalicelib.schemas import Request, Response

USER_ID = r"^[^\s#][^\x00-\x1f]{0,127}$"
ATTRIBUTE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
TAG = r"^[^\s,\x00-\x1f][^,\x00-\x1f]{0,63}$"
CHANNELS = ("email", "phone", "push_token", "wechat_openid", "whatsapp", "viber")
MAX_ATTRIBUTES_BYTES = 16_384

SCALARS = (str, bool, int, float)


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > 200:
        raise ValueError("at most 200 attributes")
    for name, item in value.items():
        if not ATTRIBUTE_NAME.match(name):
            raise ValueError(f"attribute name {name!r} must match {ATTRIBUTE_NAME.pattern}")
        values = item if isinstance(item, list) else [item]
        if isinstance(item, list) and len(item) > 100:
            raise ValueError(f"attribute {name!r}: a list holds at most 100 values")
        if not all(isinstance(v, SCALARS) for v in values) and item is not None:
            raise ValueError(f"attribute {name!r}: a string, number, boolean, null, or a list of those")
        for v in values:
            if isinstance(v, float) and not math.isfinite(v):
                raise ValueError(f"attribute {name!r}: numbers must be finite")
            if isinstance(v, str) and len(v) > 2048:
                raise ValueError(f"attribute {name!r}: strings hold at most 2048 characters")
    if len(json.dumps(value)) > MAX_ATTRIBUTES_BYTES:
        raise ValueError(f"attributes take at most {MAX_ATTRIBUTES_BYTES} bytes as JSON")
    return value


class ProfileUpsert(Request):
    """Merge semantics: given attributes are set, an attribute given as null is removed,
    absent ones are kept; a channel address given as null is removed."""

    attributes: dict[str, Any] = Field(default_factory=dict)
    email: str | None = Field(None, pattern=r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", max_length=254)
    phone: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")
    push_token: str | None = Field(None, min_length=1, max_length=4096)
    wechat_openid: str | None = Field(None, min_length=1, max_length=128)
    whatsapp: str | None = Field(None, pattern=r"^\+[1-9][0-9]{6,14}$", description="E.164")
    viber: str | None = Field(None, min_length=1, max_length=128)

    _attrs = field_validator("attributes")(_check_attributes)


class ProfileBatchItem(ProfileUpsert):
    user_id: str = Field(pattern=USER_ID)


class ProfileBatch(Request):
    profiles: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class ItemError(Response):
    index: int
    user_id: str | None = None
    errors: list[dict[str, str]]


class ProfileBatchResult(Response):
    accepted: int
    errors: list[ItemError]


class EventStat(Response):
    count: int
    first_at: str
    last_at: str
    sums: dict[str, float] = Field(default_factory=dict, description="sums of numeric properties")


class Profile(Response):
    user_id: str
    attributes: dict[str, Any]
    email: str | None = None
    phone: str | None = None
    push_token: str | None = None
    wechat_openid: str | None = None
    whatsapp: str | None = None
    viber: str | None = None
    tags: list[str]
    created_at: str
    updated_at: str


class ProfileDetail(Profile):
    event_stats: dict[str, EventStat]


class TagsChange(Request):
    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("add", "remove")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            if not re.match(TAG, tag):
                raise ValueError(f"tag {tag!r} must be 1-64 characters with no comma or control character")
        return value

    @model_validator(mode="after")
    def _sensible(self) -> "TagsChange":
        if not self.add and not self.remove:
            raise ValueError("give tags to add or remove")
        both = set(self.add) & set(self.remove)
        if both:
            raise ValueError(f"a tag cannot be both added and removed: {sorted(both)}")
        return self


class Tags(Response):
    user_id: str
    tags: list[str]
