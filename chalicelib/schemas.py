"""Shared pieces of the typed request/response schemas (pydantic), and their validation errors."""
from __future__ import annotations

import re
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.errors import FieldError, Invalid

T = TypeVar("T")


class Request(BaseModel):
    """A request body: unknown fields are refused, so a typo is a 400 naming it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageQuery(Request):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = None


def field_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + str(part)
    return path or "body"


def _message(error: Any) -> str:
    msg = str(error["msg"])
    if error["type"] == "extra_forbidden":
        return "unknown field"
    return re.sub(r"^Value error, ", "", msg)


def invalid_from(error: ValidationError, prefix: str = "") -> Invalid:
    """A pydantic ValidationError as our 400, one entry per field."""
    return Invalid(errors=[FieldError(field_path(e["loc"], prefix), _message(e)) for e in error.errors()])


def parse(model: type[BaseModel], data: Any, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc, prefix) from None
