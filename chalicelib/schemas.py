"""Shared pieces of the typed request/response schemas (pydantic), and their validation errors."""
from __future__ import annotations

import re
from typing import Annotated, Any, Generic, NoReturn, TypeVar

from pydantic import AfterValidator, AllowInfNan, BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from chalicelib import storable
from chalicelib.errors import FieldError, Invalid

T = TypeVar("T")

# Numbers and booleans in JSON bodies must be JSON numbers and booleans: "30" is not 30.
# (Query strings are text, so query models use plain int.) Every body field of these
# types uses these aliases; tests/unit/test_schemas.py checks that none is missed.
JsonInt = Annotated[int, Strict()]
JsonFloat = Annotated[float, Strict(), AllowInfNan(False)]
JsonBool = Annotated[bool, Strict()]

# pattern -> the rule in words; a refused pattern is explained with these, never shown.
PATTERN_WORDS: dict[str, str] = {}


def rule(pattern: str, words: str) -> str:
    """Register the words that explain ``pattern`` to a client; returns the pattern."""
    PATTERN_WORDS[pattern] = words
    return pattern


class Request(BaseModel):
    """A request body: unknown fields are refused, so a typo is a 400 naming it. Strings
    are taken as given (never trimmed): a rule that refuses leading spaces says so."""

    model_config = ConfigDict(extra="forbid")


class Response(BaseModel):
    model_config = ConfigDict(extra="allow")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageQuery(Request):
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = None


def field_path(loc: tuple[Any, ...], prefix: str = "") -> str:
    return storable.render_path(tuple(p if isinstance(p, int) else str(p) for p in loc), prefix)


_WORDS = {
    "missing": "is required",
    "extra_forbidden": "unknown field",
    "model_type": "must be a JSON object",
    "model_attributes_type": "must be a JSON object",
    "dataclass_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
    "list_type": "must be a JSON list",
    "string_type": "must be a string",
    "int_type": "must be an integer, written as a JSON number (30, not \"30\")",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number, written as a JSON number (0.5, not \"0.5\")",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "bool_type": "must be true or false (a JSON boolean, not a string)",
    "bool_parsing": "must be true or false",
    "is_instance_of": "has the wrong type",
    "none_required": "must be null",
}


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "string_pattern_mismatch":
        pattern = (error.get("ctx") or {}).get("pattern", "")
        return PATTERN_WORDS.get(pattern, "contains characters or a form that is not allowed here")
    if kind in _WORDS:
        return _WORDS[kind]
    return re.sub(r"^(Value error|Assertion failed), ", "", str(error["msg"]))


def refuse(problems: list[tuple[tuple[str | int, ...], str]]) -> NoReturn:
    """Raise, from inside a validator, one error per (path below the field, message)."""
    raise ValidationError.from_exception_data("request", [
        InitErrorDetails(type=PydanticCustomError("invalid", message.replace("{", "(").replace("}", ")")),
                         loc=loc, input=None)
        for loc, message in problems
    ])


def check_storable(value: Any) -> Any:
    """A validator: refuse, at their paths, the parts of ``value`` DynamoDB cannot store."""
    found = storable.problems(value)
    if found:
        refuse([(p.loc, p.message) for p in found])
    return value


StorableMap = Annotated[dict[str, Any], AfterValidator(check_storable)]


def invalid_from(error: ValidationError, prefix: str = "") -> Invalid:
    """A pydantic ValidationError as our 400, one entry per field."""
    return Invalid(errors=[FieldError(field_path(e["loc"], prefix), _message(e)) for e in error.errors()])


def parse(model: type[BaseModel], data: Any, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc, prefix) from None
