"""The configuration schema of every node type (API.md, Journey node types), as pydantic
models: unknown keys are refused, each rule is said in words, and every problem has the
path of the field inside ``config``.

``config_problems(type, config)`` is the entry point validation uses: it never raises.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Literal, Optional

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from chalicelib.audiences.schemas import PropertyCondition
from chalicelib.events.schemas import EVENT_NAME
from chalicelib.journeys import expressions, graph
from chalicelib.profiles.schemas import ATTRIBUTE_NAME, TAG, TAG_RULE
from chalicelib.schemas import JsonInt, Request, field_path, invalid_from, rule
from chalicelib.sending.messages import STATUSES

LABEL = rule(r"^[A-Za-z0-9_-]{1,64}$", "1-64 letters, digits, '_' or '-'")
PROVIDER = rule(r"^[a-z0-9][a-z0-9_-]{0,63}$",
                "a provider name is 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit")
REF_ID = rule(r"^[A-Za-z0-9_-]{1,64}$", "an id of 1-64 letters, digits, '_' or '-'")
URL = rule(r"^https?://[^\s/?#]+[^\s]{0,2000}$", "an http or https URL")
TOPIC = rule(r"^[A-Za-z0-9._-]{1,249}$", "a Kafka topic: 1-249 letters, digits, '.', '_' or '-'")
MAX_BRANCHES = 10
TIMEZONE = Literal["workspace", "user"]
# The channel a touch node sends on: its templates and provider must be of that channel.
TOUCH_CHANNEL = {t: t for t in graph.TOUCHES}


def _check(problem: str | None) -> None:
    if problem:
        raise ValueError(problem)


class Config(Request):
    """A node configuration."""


class Schedule(Request):
    rate: Optional[str] = Field(None, description="an EventBridge rate body: '1 day', '6 hours'")
    cron: Optional[str] = Field(None, description="an EventBridge six-field cron body: '0 9 ? * MON-FRI *'")

    @field_validator("rate")
    @classmethod
    def _rate(cls, value: str) -> str:
        _check(expressions.rate_problem(value))
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        _check(expressions.cron_problem(value))
        return value

    @model_validator(mode="after")
    def _one(self) -> "Schedule":
        if (self.rate is None) == (self.cron is None):
            raise ValueError("a schedule has exactly one of rate or cron")
        return self


class TriggerAudience(Config):
    audience_id: str = Field(pattern=REF_ID)
    schedule: Optional[Schedule] = None


def _duration(value: str) -> str:
    _check(expressions.duration_problem(value))
    return value


class TriggerEvent(Config):
    event: str = Field(pattern=EVENT_NAME)
    where: list[PropertyCondition] = Field(default_factory=list, max_length=10)
    min_count: JsonInt = Field(1, ge=1, le=1000)
    within: Optional[str] = None

    _within = field_validator("within")(classmethod(lambda cls, v: _duration(v)))


class TriggerManual(Config):
    pass


class Touch(Config):
    provider: str = Field(pattern=PROVIDER)
    template_id: str = Field(pattern=REF_ID)


class Tag(Config):
    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("add", "remove")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        if any(not re.fullmatch(TAG, t) for t in value):
            raise ValueError(TAG_RULE)
        return value

    @model_validator(mode="after")
    def _something(self) -> "Tag":
        if not self.add and not self.remove:
            raise ValueError("a tag node adds or removes at least one tag")
        return self


class GenerateAudience(Config):
    name: str = Field(min_length=1, max_length=128)


class Webhook(Config):
    url: str = Field(pattern=URL)
    secret: Optional[str] = Field(None, min_length=16, max_length=256)


class Kafka(Config):
    provider: str = Field(pattern=PROVIDER)
    topic: str = Field(pattern=TOPIC)
    key: Optional[str] = Field(None, max_length=256, description="a Liquid template of the record key")


class Wait(Config):
    duration: Optional[str] = None
    until_time: Optional[str] = None
    after_days: Optional[JsonInt] = Field(None, ge=0, le=366)
    until: Optional[str] = Field(None, description="a date-time with offset")
    until_attribute: Optional[str] = Field(None, pattern=ATTRIBUTE_NAME.pattern)
    timezone: TIMEZONE = "workspace"

    _duration = field_validator("duration")(classmethod(lambda cls, v: _duration(v)))

    @field_validator("until_time")
    @classmethod
    def _clock(cls, value: str) -> str:
        _check(expressions.clock_problem(value))
        return value

    @field_validator("until")
    @classmethod
    def _until(cls, value: str) -> str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("must be a date-time with an offset, such as 2026-11-22T09:00:00+08:00") from None
        if moment.tzinfo is None:
            raise ValueError("must carry an offset, such as 2026-11-22T09:00:00+08:00")
        return value

    @model_validator(mode="after")
    def _one_kind(self) -> "Wait":
        kinds = [k for k in ("duration", "until_time", "until", "until_attribute") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("a wait has exactly one of duration, until_time (with after_days), until or "
                             "until_attribute")
        if self.after_days is not None and kinds[0] != "until_time":
            raise ValueError("after_days goes with until_time (N days, then the clock time)")
        return self


class Share(Request):
    id: str = Field(pattern=LABEL)
    percent: JsonInt = Field(ge=0, le=100)


def _unique(shares: list[Share], reserved: tuple[str, ...] = ()) -> list[Share]:
    ids = [s.id for s in shares]
    if len(set(ids)) != len(ids):
        raise ValueError("ids must be unique (each names a branch)")
    if any(i in reserved for i in ids):
        raise ValueError(f"'{reserved[0]}' is reserved for the control group")
    return shares


class AbTest(Config):
    variants: list[Share] = Field(min_length=1, max_length=MAX_BRANCHES)
    control_percent: JsonInt = Field(0, ge=0, le=100)

    @field_validator("variants")
    @classmethod
    def _ids(cls, value: list[Share]) -> list[Share]:
        return _unique(value, (graph.CONTROL,))


class RandomSplit(Config):
    groups: list[Share] = Field(min_length=2, max_length=MAX_BRANCHES)

    @field_validator("groups")
    @classmethod
    def _ids(cls, value: list[Share]) -> list[Share]:
        return _unique(value)


class End(Config):
    pass


class TagJudgment(Config):
    tags: list[str] = Field(min_length=1, max_length=50)
    match: Literal["any", "all"] = "any"

    _tags = field_validator("tags")(classmethod(lambda cls, v: Tag._tags(v)))


class EventJudgment(Config):
    event: str = Field(pattern=EVENT_NAME)
    within: str
    where: list[PropertyCondition] = Field(default_factory=list, max_length=10)
    min_count: JsonInt = Field(1, ge=1, le=1000)

    _within = field_validator("within")(classmethod(lambda cls, v: _duration(v)))


class AttributeJudgment(Config):
    """Conditions on the properties of the event that triggered the journey."""

    conditions: list[PropertyCondition] = Field(min_length=1, max_length=10)
    match: Literal["all", "any"] = "all"


class ResultJudgment(Config):
    statuses: list[Literal[STATUSES]] = Field(min_length=1, max_length=len(STATUSES))  # type: ignore[valid-type]
    after: str = Field(description="how long after the previous touch to judge")

    _after = field_validator("after")(classmethod(lambda cls, v: _duration(v)))


class AudienceJudgment(Config):
    audiences: list[str] = Field(min_length=1, max_length=MAX_BRANCHES)

    @field_validator("audiences")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        if any(not re.fullmatch(REF_ID, a) for a in value):
            raise ValueError("each entry is an audience id")
        if len(set(value)) != len(value):
            raise ValueError("an audience appears once (the first match wins)")
        if graph.OTHER in value:
            raise ValueError("'other' is the branch for users in none of the audiences")
        return value


SCHEMAS: dict[str, type[BaseModel]] = {
    "trigger_audience": TriggerAudience, "trigger_event": TriggerEvent, "trigger_manual": TriggerManual,
    **{t: Touch for t in graph.TOUCHES},
    "tag": Tag, "generate_audience": GenerateAudience, "webhook": Webhook, "kafka": Kafka,
    "wait": Wait, "ab_test": AbTest, "random_split": RandomSplit, "end": End,
    "tag_judgment": TagJudgment, "event_judgment": EventJudgment, "attribute_judgment": AttributeJudgment,
    "result_judgment": ResultJudgment, "audience_judgment": AudienceJudgment,
}
assert set(SCHEMAS) == set(graph.NODE_TYPES)


def parse_config(node_type: str, config: Any) -> tuple[BaseModel | None, list[tuple[str, str]]]:
    """The parsed configuration, or the problems as (field path under ``config``, words)."""
    schema = SCHEMAS.get(node_type)
    if schema is None:
        return None, [("type", f"unknown node type; one of {', '.join(graph.NODE_TYPES)}")]
    try:
        return schema.model_validate(config), []
    except ValidationError as exc:
        return None, [(e.field, e.message) for e in invalid_from(exc, "config").errors]
    except (TypeError, ValueError, RecursionError) as exc:  # a validator tripped on odd input
        return None, [("config", f"cannot be read: {type(exc).__name__}")]


__all__ = ["SCHEMAS", "TOUCH_CHANNEL", "parse_config", "field_path"]
