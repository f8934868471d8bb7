"""The AIPL model: each user's stage in awareness → interest → purchase → loyalty, from
behaviour rules. Pure functions; a builder reads the profiles' ``event_stats`` in bulk and,
only for the users the aggregates cannot decide, their events of a few names in a window.

A stage rule is "did any of ``events`` at least ``min_count`` times in total, within the
last ``within_days`` days (or ever, when null)". ``events`` is a list of event names, or
"any" for every event name the user has. The defaults:

* awareness: any event, at least once, ever (the user has been seen at all);
* interest: ``view``, ``click`` or ``add_to_cart``, at least 3 times in the last 30 days;
* purchase: ``purchase`` at least once, ever;
* loyalty: ``purchase`` at least 2 times in the last 90 days (came back within a quarter).

A source overrides any field of any stage (``"rules": {"loyalty": {"min_count": 3,
"within_days": 180}}``); the fields not given keep their defaults, and ``within_days:
null`` means ever. A user's stage is the highest stage whose rule holds, whether or not
the lower ones hold; a user no rule holds for has no stage and is in no AIPL audience. An
audience of ``["interest"]`` is the users whose stage is interest, not those who went on
to purchase.

What each rule costs the builder: a rule without ``within_days`` is decided by the
lifetime aggregates alone (counts per event name). A rule with ``within_days`` is decided
by the aggregates too when they suffice: no such event since the window opened (last_at
before it: count 0), all of them inside it (first_at inside: count = the aggregate's
count), fewer in total than min_count (cannot hold), or enough already decided inside it.
Only the remaining users need their events of those names since the window opened:
``window_reads`` says which names from when, per user, and stops at the first stage that
holds by the aggregates. With the defaults, awareness and purchase never read events;
interest and loyalty read only for users active both before and during their window.
Window boundaries compare ISO UTC strings (``clock.iso``): an event at exactly the
window's start is inside it; events after ``now`` are not counted in a window.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import re
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, model_validator

from chalicelib import clock
from chalicelib.events.aggregates import Stat
from chalicelib.events.schemas import EVENT_NAME, EVENT_NAME_WORDS
from chalicelib.schemas import JsonInt, Request, refuse

Stage = Literal["awareness", "interest", "purchase", "loyalty"]
STAGES: tuple[Stage, ...] = ("awareness", "interest", "purchase", "loyalty")  # low to high

MAX_RULE_EVENTS = 20
MAX_WINDOW_DAYS = 3650


def _events(value: Any) -> list[str] | str:
    """Validated by hand so that errors name ``events[2]``, not pydantic's union branches."""
    if value == "any":
        return "any"
    if not isinstance(value, list):
        raise ValueError('must be a list of event names, or "any" for every event')
    if not 1 <= len(value) <= MAX_RULE_EVENTS:
        raise ValueError(f"give 1 to {MAX_RULE_EVENTS} event names")
    bad: list[tuple[tuple[str | int, ...], str]] = [
        ((i,), EVENT_NAME_WORDS if isinstance(name, str) else "must be a string")
        for i, name in enumerate(value) if not (isinstance(name, str) and re.fullmatch(EVENT_NAME, name))]
    if bad:
        refuse(bad)
    return list(dict.fromkeys(value))


Events = Annotated[list[str] | Literal["any"],
                   PlainValidator(_events, json_schema_input_type=list[str] | Literal["any"])]


class StageRule(Request):
    events: Events = Field(description='event names, or "any" for every event')
    min_count: JsonInt = Field(ge=1, le=1_000_000)
    within_days: JsonInt | None = Field(None, ge=1, le=MAX_WINDOW_DAYS, description="null: ever")


class StageRuleOverride(Request):
    """Any field of a stage rule; the ones not given keep the default."""

    events: Events | None = None
    min_count: JsonInt | None = Field(None, ge=1, le=1_000_000)
    within_days: JsonInt | None = Field(None, ge=1, le=MAX_WINDOW_DAYS, description="null: ever")

    @model_validator(mode="after")
    def _no_null_where_null_means_nothing(self) -> StageRuleOverride:
        given = self.model_fields_set
        refuse_null: list[tuple[tuple[str | int, ...], str]] = [((name,), "cannot be null: leave it out to keep the default")
                       for name in ("events", "min_count") if name in given and getattr(self, name) is None]
        if refuse_null:
            refuse(refuse_null)
        return self


class StageOverrides(Request):
    awareness: StageRuleOverride | None = None
    interest: StageRuleOverride | None = None
    purchase: StageRuleOverride | None = None
    loyalty: StageRuleOverride | None = None


DEFAULT_RULES: dict[Stage, StageRule] = {
    "awareness": StageRule(events="any", min_count=1, within_days=None),
    "interest": StageRule(events=["view", "click", "add_to_cart"], min_count=3, within_days=30),
    "purchase": StageRule(events=["purchase"], min_count=1, within_days=None),
    "loyalty": StageRule(events=["purchase"], min_count=2, within_days=90),
}


class AiplSource(Request):
    """``{"type": "aipl", "stages": [...], "rules"?: {...}}``: the users in these stages."""

    type: Literal["aipl"]
    stages: list[Stage] = Field(min_length=1, max_length=len(STAGES))
    rules: StageOverrides | None = None

    def effective_rules(self) -> dict[Stage, StageRule]:
        """The defaults with this source's overrides applied, field by field."""
        rules = dict(DEFAULT_RULES)
        if self.rules is not None:
            for stage in STAGES:
                override = getattr(self.rules, stage)
                if override is not None:
                    rules[stage] = rules[stage].model_copy(update=override.model_dump(exclude_unset=True))
        return rules


# --- facts and decisions ---------------------------------------------------------------

@dataclass(frozen=True)
class AiplFacts:
    """One user: lifetime aggregates by event name, and, for the names ``window_reads``
    asked for, the timestamps of their events since the time it gave."""

    event_stats: Mapping[str, Stat]
    windowed: Mapping[str, Sequence[str]] = field(default_factory=dict)


class MissingWindow(ValueError):
    """The builder did not read events that a windowed rule needs (a builder bug)."""


def _names(rule: StageRule, stats: Mapping[str, Stat]) -> list[str]:
    return sorted(stats) if rule.events == "any" else list(dict.fromkeys(rule.events))


def _since(rule: StageRule, now: datetime) -> str | None:
    return None if rule.within_days is None else clock.iso(now - timedelta(days=rule.within_days))


@dataclass(frozen=True)
class _Bounds:
    exact: int                # events known to count
    unknown: dict[str, int]   # name -> events that may or may not be in the window


def _bounds(rule: StageRule, stats: Mapping[str, Stat], now: datetime) -> _Bounds:
    since, until = _since(rule, now), clock.iso(now)
    exact, unknown = 0, {}
    for name in _names(rule, stats):
        stat = stats.get(name)
        if stat is None or stat.count <= 0:
            continue
        if since is None:
            exact += stat.count
        elif stat.last_at < since or stat.first_at > until:
            continue
        elif stat.first_at >= since and stat.last_at <= until:
            exact += stat.count
        else:
            unknown[name] = stat.count
    return _Bounds(exact, unknown)


def _decided(rule: StageRule, bounds: _Bounds) -> bool | None:
    if bounds.exact >= rule.min_count:
        return True
    if bounds.exact + sum(bounds.unknown.values()) < rule.min_count:
        return False
    return None


def holds(rule: StageRule, facts: AiplFacts, now: datetime) -> bool:
    """Whether one stage rule holds for a user at ``now``."""
    bounds = _bounds(rule, facts.event_stats, now)
    decided = _decided(rule, bounds)
    if decided is not None:
        return decided
    since, until = _since(rule, now), clock.iso(now)
    assert since is not None  # only windowed rules are undecided
    count = bounds.exact
    for name in bounds.unknown:
        if name not in facts.windowed:
            raise MissingWindow(f"events {name!r} since {since} were not read")
        count += sum(1 for ts in facts.windowed[name] if since <= ts <= until)
    return count >= rule.min_count


def stage_of(facts: AiplFacts, rules: Mapping[Stage, StageRule], now: datetime) -> Stage | None:
    """The highest stage whose rule holds, or None."""
    for stage in reversed(STAGES):
        if holds(rules[stage], facts, now):
            return stage
    return None


def window_reads(event_stats: Mapping[str, Stat], rules: Mapping[Stage, StageRule],
                 now: datetime) -> dict[str, str]:
    """The events a builder must read for this user before ``stage_of``: event name →
    the earliest timestamp needed (read events at or after it). Empty for most users."""
    reads: dict[str, str] = {}
    for stage in reversed(STAGES):
        rule = rules[stage]
        bounds = _bounds(rule, event_stats, now)
        decided = _decided(rule, bounds)
        if decided is True:
            break
        if decided is None:
            since = _since(rule, now)
            assert since is not None
            for name in bounds.unknown:
                reads[name] = min(reads.get(name, since), since)
    return reads


def selects(source: AiplSource, stage: Stage | None) -> bool:
    return stage is not None and stage in source.stages


def stage_distribution(stages: Iterable[Stage | None]) -> dict[str, int]:
    """Users per stage, all four named (0 when empty); users with no stage are not counted."""
    counts: dict[str, int] = dict.fromkeys(STAGES, 0)
    for stage in stages:
        if stage is not None:
            counts[stage] += 1
    return counts
