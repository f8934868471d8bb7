"""Audience rule sources as typed models, and their validation.

What a valid rule *means* is specified in ``chalicelib/audiences/rules.py``; this module
decides only what is a valid rule, and refuses anything else with a 400 whose field is the
path of the bad part (``source.conditions[1].any[0].op``) and whose message is in words.
``parse_source`` is the entry point; ``RulesSource`` may also be nested in a request model
(its limits are checked by its own validators either way).
"""
from __future__ import annotations

import re
from datetime import date, datetime, timezone
from typing import Annotated, Any, Literal, Optional, Union

from pydantic import (BaseModel, Field, PlainSerializer, PlainValidator, PrivateAttr, WithJsonSchema,
                      field_validator, model_validator)

from chalicelib import storable
from chalicelib.events.schemas import EVENT_NAME
from chalicelib.profiles.schemas import ATTRIBUTE_NAME, TAG, TAG_RULE
from chalicelib.schemas import JsonInt, Request, parse, refuse

MAX_GROUP_DEPTH = 5       # groups inside groups, the outermost group counting as 1
MAX_CONDITIONS = 50       # in the whole rule, groups and behaviour conditions counting one each
MAX_WHERE = 10            # conditions on the properties of one behaviour condition
MAX_LIST_VALUES = 500     # values of one in / not_in
MAX_STRING = 2048         # characters of one string value (as for profile attributes)
MAX_RULE_BYTES = 32_768   # the whole rule as UTF-8 JSON: it is stored with the audience
MAX_WITHIN_DAYS = 3650    # the longest event retention a workspace can have
MAX_MIN_COUNT = 1_000_000

ATTRIBUTE_OPS = ("eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains",
                 "starts_with", "exists", "not_exists")
AttributeOp = Literal["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between", "contains",
                      "starts_with", "exists", "not_exists"]
ORDER_OPS = ("gt", "gte", "lt", "lte", "between")
TIME_EXAMPLES = "2024-05-01 or 2024-05-01T09:00:00+08:00"

# An ISO date, or an ISO date-time with an offset (seconds and up to 6 decimals optional).
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})")
_NAIVE_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?")


def as_time(text: str) -> date | datetime | None:
    """The time a string denotes, or None: a ``date`` for ``YYYY-MM-DD``, an aware UTC
    ``datetime`` for ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` with ``Z`` or ``±HH:MM``. Anything
    else (no offset, week dates, out-of-range fields) is not a time."""
    if len(text) < 10 or len(text) > 35:
        return None
    try:
        if _DATE.fullmatch(text):
            return date.fromisoformat(text)
        if _DATE_TIME.fullmatch(text):
            return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return None


def is_number(value: Any) -> bool:
    """A JSON number (int or float, never a boolean)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _scalar_problem(value: Any) -> str | None:
    """Why ``value`` cannot be compared with an attribute (a string, number or boolean), or None."""
    if isinstance(value, bool):
        return None
    if is_number(value):
        return storable.number_problem(value)
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"a string value holds at most {MAX_STRING} characters"
        if not storable.is_unicode(value):
            return "a string must be valid Unicode (no lone surrogate escape such as \\ud800)"
        return None
    return "must be a string, a number or true/false"


def _ordered_problem(value: Any) -> str | None:
    """Why ``value`` cannot be an operand of gt/gte/lt/lte/between, or None."""
    if is_number(value):
        return storable.number_problem(value)
    if isinstance(value, str) and as_time(value) is not None:
        return None
    if isinstance(value, str) and _NAIVE_DATE_TIME.fullmatch(value):
        return f"a time needs an offset such as Z or +08:00, e.g. {TIME_EXAMPLES}"
    return f"this comparison takes a number or an ISO date or time, e.g. 30, {TIME_EXAMPLES}"


def _kind(value: Any) -> str:
    if is_number(value):
        return "number"
    moment = as_time(value)
    return "time" if isinstance(moment, datetime) else "date"


def _sort_key(value: Any) -> Any:
    moment = as_time(value) if isinstance(value, str) else None
    if moment is None:
        return value
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)


Problems = list[tuple[tuple[Union[str, int], ...], str]]


def value_problems(op: str, given: bool, value: Any) -> Problems:
    """The per-operator checks of a condition's ``value`` (path below the condition, words)."""
    if op in ("exists", "not_exists"):
        return [(("value",), f"{op} takes no value")] if given else []
    if not given:
        return [(("value",), f"is required by {op}")]
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value:
            return [(("value",), f"{op} takes a non-empty list of values")]
        if len(value) > MAX_LIST_VALUES:
            return [(("value",), f"{op} takes at most {MAX_LIST_VALUES} values ({len(value)} given)")]
        listed: Problems = [(("value", i), p) for i, v in enumerate(value) if (p := _scalar_problem(v))]
        return listed[:storable.MAX_PROBLEMS]
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            return [(("value",), "between takes a list of two values, the lowest first: [from, to]")]
        found: Problems = [(("value", i), p) for i, v in enumerate(value) if (p := _ordered_problem(v))]
        if found:
            return found
        if _kind(value[0]) != _kind(value[1]):
            return [(("value",), "both values of between must be of one kind: two numbers, two dates or two times")]
        if _sort_key(value[0]) > _sort_key(value[1]):
            return [(("value",), "between takes the lowest value first: [from, to]")]
        return []
    if op in ORDER_OPS:
        problem = _ordered_problem(value)
    elif op == "starts_with" or (op == "contains" and isinstance(value, str)):
        problem = _scalar_problem(value) if isinstance(value, str) else f"{op} takes a string"
        if problem is None and value == "":
            problem = f"{op} takes a non-empty string"
    else:
        problem = _scalar_problem(value)
    return [(("value",), problem)] if problem else []


def _check_op(value: Any) -> Any:
    if not isinstance(value, str) or value not in ATTRIBUTE_OPS:
        raise ValueError("is not an operator; an attribute condition takes one of " + ", ".join(ATTRIBUTE_OPS))
    return value


class Comparison(Request):
    """The shared part of attribute conditions and event-property conditions."""

    op: AttributeOp
    value: Any = Field(None, description=(
        "eq/neq/contains: a string, number or boolean; in/not_in: a non-empty list of those; "
        "gt/gte/lt/lte: a number or an ISO date or date-time with offset; between: two of those, "
        "lowest first; starts_with: a string; exists/not_exists: no value"))

    _op = field_validator("op", mode="before")(_check_op)

    @model_validator(mode="after")
    def _value_fits_op(self) -> "Comparison":
        found = value_problems(self.op, "value" in self.model_fields_set, self.value)
        if found:
            refuse(found)
        return self

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


class AttributeCondition(Comparison):
    attribute: str = Field(pattern=ATTRIBUTE_NAME.pattern)


class PropertyCondition(Comparison):
    """A condition on one top-level property of an event (``where``)."""

    property: str

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if isinstance(data, dict) and "property" not in data:
            if "attribute" in data:  # API.md: "attribute-style conditions on event properties"
                return {("property" if k == "attribute" else k): v for k, v in data.items()}
            if "all" in data or "any" in data:
                raise ValueError("where takes a flat list of property conditions, all of which must hold")
        return data

    @field_validator("property")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = storable.key_problem(value)
        if problem:
            raise ValueError(problem.replace("an object key", "a property name"))
        return value


class TagCondition(Request):
    tag: str = Field(description=TAG_RULE)
    op: Literal["has", "has_not"]

    @field_validator("tag")
    @classmethod
    def _tag(cls, value: str) -> str:
        if not re.fullmatch(TAG, value) or not storable.is_unicode(value):
            raise ValueError(TAG_RULE)
        return value

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, value: Any) -> Any:
        if not isinstance(value, str) or value not in ("has", "has_not"):
            raise ValueError("is not an operator; a tag condition takes has or has_not")
        return value

    def to_json(self) -> dict[str, Any]:
        return self.model_dump()


class BehaviourCondition(Request):
    event: str = Field(pattern=EVENT_NAME)
    op: Literal["did", "did_not"]
    min_count: JsonInt = Field(1, ge=1, le=MAX_MIN_COUNT)
    within_days: Optional[JsonInt] = Field(None, ge=1, le=MAX_WITHIN_DAYS)
    between: Optional[list[str]] = Field(None, description=f"[from, to], ISO dates or times, e.g. {TIME_EXAMPLES}")
    where: Optional[list[PropertyCondition]] = Field(None, max_length=MAX_WHERE)

    @field_validator("op", mode="before")
    @classmethod
    def _op(cls, value: Any) -> Any:
        if not isinstance(value, str) or value not in ("did", "did_not"):
            raise ValueError("is not an operator; an event condition takes did or did_not")
        return value

    @field_validator("between")
    @classmethod
    def _between(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        if len(value) != 2:
            refuse([((), "between takes a list of two times, the earliest first: [from, to]")])
        bad: list[tuple[tuple[str | int, ...], str]] = [
            ((i,), f"must be an ISO date or a date-time with an offset, e.g. {TIME_EXAMPLES}")
            for i, v in enumerate(value) if as_time(v) is None]
        if bad:
            refuse(bad)
        if _sort_key(value[0]) > _sort_key(value[1]):
            refuse([((), "between takes the earliest time first: [from, to]")])
        return value

    @model_validator(mode="after")
    def _one_window(self) -> "BehaviourCondition":
        if self.within_days is not None and self.between is not None:
            refuse([(("between",), "give within_days or between, not both")])
        return self

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True, exclude={"where"})
        if self.where is not None:
            data["where"] = [w.to_json() for w in self.where]
        return data


def _condition(data: Any) -> Any:
    """Pick the condition's kind by the key that names it, then validate that kind."""
    if isinstance(data, BaseModel):
        return data
    if not isinstance(data, dict):
        raise ValueError("must be a JSON object: an attribute, tag or event condition, or an all/any group")
    if "attribute" in data:
        return AttributeCondition.model_validate(data)
    if "tag" in data:
        return TagCondition.model_validate(data)
    if "event" in data:
        return BehaviourCondition.model_validate(data)
    if "all" in data or "any" in data:
        return Group.model_validate(data)
    raise ValueError('must name an "attribute", a "tag" or an "event", or be a group {"all": [...]} or {"any": [...]}')


def _dump_condition(condition: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = condition.to_json()
    return dumped


Condition = Annotated[
    Union[AttributeCondition, TagCondition, BehaviourCondition, "Group"],
    PlainValidator(_condition),
    PlainSerializer(_dump_condition),
    WithJsonSchema({"type": "object", "description": (
        'an attribute condition {"attribute", "op", "value"?}, a tag condition {"tag", "op"}, an event '
        'condition {"event", "op", "min_count"?, "within_days"? | "between"?, "where"?} or a group '
        '{"all": [...]} or {"any": [...]}')}),
]


class Group(Request):
    """``{"all": [...]}`` or ``{"any": [...]}``: a non-empty list of conditions."""

    all: Optional[list[Condition]] = None
    any: Optional[list[Condition]] = None

    @model_validator(mode="after")
    def _one_list(self) -> "Group":
        if self.all is not None and self.any is not None:
            refuse([(("any",), "a group is either all or any, not both")])
        members = self.all if self.all is not None else self.any
        if not members:
            refuse([(("all" if self.all is not None else "any",), "a group needs at least one condition")])
        return self

    @property
    def match(self) -> str:
        return "all" if self.all is not None else "any"

    @property
    def conditions(self) -> list[Condition]:
        return self.all if self.all is not None else (self.any or [])

    def to_json(self) -> dict[str, Any]:
        return {self.match: [c.to_json() for c in self.conditions]}


def _size_problems(conditions: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """Too many conditions, or groups too deep, found before validating the parts (so a
    hostile rule nested a thousand deep costs one bounded walk)."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    count = 0
    todo: list[tuple[tuple[str | int, ...], Any, int]] = [(("conditions",), conditions, 0)]
    while todo:
        loc, items, depth = todo.pop()
        if not isinstance(items, list):
            continue
        count += len(items)
        for index, item in enumerate(items):
            if not isinstance(item, dict) or any(k in item for k in ("attribute", "tag", "event")):
                continue
            for key in ("all", "any"):
                if key in item:
                    if depth + 1 > MAX_GROUP_DEPTH:
                        problems.append((loc + (index,), f"groups nest at most {MAX_GROUP_DEPTH} deep"))
                    else:
                        todo.append((loc + (index, key), item[key], depth + 1))
    if count > MAX_CONDITIONS:
        problems.insert(0, (("conditions",), f"a rule holds at most {MAX_CONDITIONS} conditions, "
                                             f"each group counting as one ({count} given)"))
    return problems[:storable.MAX_PROBLEMS]


class RulesSource(Request):
    """A rule audience's source: ``{"type": "rules", "match": "all" | "any", "conditions": [...]}``.
    With no conditions, ``all`` matches everyone and ``any`` no one."""

    type: Literal["rules"]
    match: Literal["all", "any"] = "all"
    conditions: list[Condition] = Field(default_factory=list)
    _json: dict[str, Any] = PrivateAttr(default_factory=dict)

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        if value != "rules":
            raise ValueError('must be "rules" for a rule audience')
        return value

    @model_validator(mode="before")
    @classmethod
    def _bounded(cls, data: Any) -> Any:
        if isinstance(data, dict):
            problems = _size_problems(data.get("conditions"))
            if problems:
                refuse(problems)
        return data

    @model_validator(mode="after")
    def _small_enough(self) -> "RulesSource":
        self._json = {"type": self.type, "match": self.match, "conditions": [c.to_json() for c in self.conditions]}
        size = storable.json_size(self._json)
        if size > MAX_RULE_BYTES:
            refuse([((), f"a rule takes at most {MAX_RULE_BYTES} bytes as UTF-8 JSON ({size} given)")])
        return self

    def to_json(self) -> dict[str, Any]:
        """The rule as the client wrote it (defaults filled in), for storing and showing."""
        return self._json


def parse_source(data: Any, prefix: str = "source") -> RulesSource:
    """A rules source, or Invalid naming each bad part by its path under ``prefix``."""
    source: RulesSource = parse(RulesSource, data, prefix)
    return source


Group.model_rebuild()
RulesSource.model_rebuild()
