"""What a rule audience's conditions mean: the one evaluator shared by the audience builder,
the estimate route and the journeys' judgments. Pure: plain data in, a decision out.

A rule is a ``RulesSource`` (validated by ``chalicelib/audiences/schemas.py``):
``{"type": "rules", "match": "all" | "any", "conditions": [...]}``. ``all`` holds when every
condition holds (so an empty ``all`` matches everyone), ``any`` when at least one does (an
empty ``any`` matches no one). A group ``{"all": [...]}`` / ``{"any": [...]}`` is a condition
with the same meaning, nested at most 5 groups deep; a rule holds at most 50 conditions.

Values. A condition's value is a string, a number or a boolean, and booleans are not numbers
(``true`` never equals ``1``). A *time* is a string written as an ISO date ``YYYY-MM-DD`` or
an ISO date-time with an offset ``YYYY-MM-DDTHH:MM[:SS[.ffffff]]`` followed by ``Z`` or
``±HH:MM``; a date-time without an offset, or any other form, is a plain string. Attribute
values are read the same way: an attribute string that is a time compares as a time.

How a time compares. When the condition's value is a *date*, the attribute's time is taken
as its calendar date in UTC (``2024-05-01T23:30:00-02:00`` is the date 2024-05-02) and
compared as a date. When the condition's value is a *date-time*, the attribute's time is
compared as an instant (a date attribute counts as midnight UTC at the start of that day),
so ``2024-05-01T08:00:00+08:00`` equals ``2024-05-01T00:00:00Z``. A number never compares
with a time, a time never with a plain string.

Attribute conditions ``{"attribute": name, "op": op, "value": v}``. A missing attribute and
an attribute whose value is null are the same: *missing*.

* ``eq``: the attribute has the value's type and equals it (numbers by numeric value, so
  ``30`` equals ``30.0``; strings exactly, case-sensitive; times as above). A list
  attribute never equals a single value (use ``contains``).
* ``in``: ``eq`` to at least one of the listed values.
* ``neq`` and ``not_in`` are exactly ``not eq`` and ``not in``: they HOLD on a missing
  attribute and on an attribute of another type (``"city" neq "Hangzhou"`` matches people
  with no city). Combine with ``exists`` to require the attribute.
* ``gt gte lt lte``: the attribute is a number and the value a number, or both are times;
  compared by order. ``between [a, b]`` is ``gte a`` and ``lte b`` (both ends included).
* ``contains``: on a string attribute, the value (a string) is a substring; on a list
  attribute, some element is ``eq`` to the value. ``starts_with``: a string attribute
  begins with the value (case-sensitive); false on lists.
* ``exists``: the attribute is present and not null; ``not_exists``: its negation.
* Every other mismatch (a string attribute with ``gt 5``, a number with ``starts_with``, a
  missing attribute with anything but ``neq``, ``not_in``, ``not_exists``) is false, never
  an error.

Tag conditions ``{"tag": t, "op": "has" | "has_not"}``: the profile's tags contain t, or not.

Behaviour conditions ``{"event": e, "op": "did" | "did_not", "min_count": n (default 1),
"within_days": d | "between": [from, to], "where": [...]}`` count the user's events named
e that fall in the window and satisfy every ``where`` condition; ``did`` holds when the
count is at least n, ``did_not`` when it is below n (so ``did_not`` with ``min_count`` 2
means "at most once", including never). The window: ``within_days`` d takes events whose
time is at or after ``now`` minus d×24 hours (events stamped after ``now``, which the
events API accepts up to a day ahead for clock skew, count as recent); ``between [from,
to]`` takes events whose time compares ``gte from`` and ``lte to`` by the time rules above
(``["2024-05-01", "2024-05-31"]`` is the whole of May in UTC); neither takes every event the
workspace still holds (its event retention). A ``where`` condition is an attribute
condition on one top-level property of the event, written ``{"property": p, "op", "value"}``,
with exactly the attribute semantics (a property that is an object matches only ``exists``,
``neq``, ``not_in``). An event whose time cannot be read is not counted.

For the builder: ``compile_rule`` once per build; ``evaluate_partial`` decides from the
profile alone when it can (Kleene logic: behaviour is unknown, ``all`` is false as soon as one
part is false, ``any`` true as soon as one is true), so events are read only for the users
it leaves undecided, and ``behaviour_needs`` says which events to read and from when.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, Iterable, Mapping, Optional, Sequence, Union

from chalicelib.audiences.schemas import (AttributeCondition, BehaviourCondition, Comparison, Group,
                                          RulesSource, TagCondition, as_time)

EventRecord = tuple[Union[str, datetime], Mapping[str, Any]]  # (ISO time, properties)


@dataclass(frozen=True)
class UserFacts:
    """What a rule can look at for one user. ``events`` maps an event name to that user's
    events (any order); it may be any mapping, for example one that reads lazily, and needs
    only the names and times that ``behaviour_needs`` asks for."""

    attributes: Mapping[str, Any]
    tags: frozenset[str] = frozenset()
    events: Mapping[str, Sequence[EventRecord]] = field(default_factory=dict)


# values


@dataclass(frozen=True)
class _Value:
    """A condition's value, read once: kind is string, number, boolean, date or time."""

    kind: str
    value: Any
    text: Optional[str] = None  # the value as written when it is a string


def _read_value(value: Any) -> _Value:
    if isinstance(value, bool):
        return _Value("boolean", value)
    if isinstance(value, str):
        moment = as_time(value)
        if isinstance(moment, datetime):
            return _Value("time", moment, value)
        if moment is not None:
            return _Value("date", moment, value)
        return _Value("string", value, value)
    return _Value("number", value)


def _is_number(fact: Any) -> bool:
    if isinstance(fact, bool):
        return False
    if isinstance(fact, Decimal):  # DynamoDB's numbers
        return not fact.is_nan()
    if isinstance(fact, float):
        return not math.isnan(fact)
    return isinstance(fact, int)


def _moment(fact: Any, kind: str) -> date | datetime | None:
    """The fact as a time of ``kind`` (date: its UTC calendar date; time: an instant)."""
    if isinstance(fact, str):
        moment: date | datetime | None = as_time(fact)
    elif isinstance(fact, datetime):
        moment = fact.astimezone(timezone.utc) if fact.tzinfo is not None else None
    else:
        return None
    if moment is None:
        return None
    if kind == "date":
        return moment.date() if isinstance(moment, datetime) else moment
    if isinstance(moment, datetime):
        return moment
    return datetime(moment.year, moment.month, moment.day, tzinfo=timezone.utc)


def _equals(fact: Any, want: _Value) -> bool:
    if want.kind == "boolean":
        return isinstance(fact, bool) and fact == want.value
    if want.kind == "number":
        return _is_number(fact) and bool(fact == want.value)
    if want.kind == "string":
        return isinstance(fact, str) and fact == want.value
    moment = _moment(fact, want.kind)
    return moment is not None and moment == want.value


def _order(fact: Any, want: _Value) -> int | None:
    """-1, 0 or 1 as the fact is below, at or above the value; None when they do not compare."""
    if want.kind == "number":
        if not _is_number(fact):
            return None
        return int(fact > want.value) - int(fact < want.value)
    if want.kind in ("date", "time"):
        moment = _moment(fact, want.kind)
        if moment is None:
            return None
        return int(moment > want.value) - int(moment < want.value)
    return None


# compiled conditions


class _Node:
    def holds(self, facts: UserFacts, now: datetime) -> bool:
        raise NotImplementedError

    def partial(self, attributes: Mapping[str, Any], tags: frozenset[str]) -> bool | None:
        raise NotImplementedError

    def needs(self, now: datetime) -> Iterable[tuple[str, datetime | None]]:
        return ()


class _Comparison:
    """An attribute-style test of one value (an attribute or an event property)."""

    def __init__(self, condition: Comparison):
        self.op = condition.op
        given = condition.value
        if self.op in ("in", "not_in", "between"):
            self.values = [_read_value(v) for v in given]
        elif self.op not in ("exists", "not_exists"):
            self.values = [_read_value(given)]

    def test(self, fact: Any) -> bool:
        op = self.op
        if op == "exists":
            return fact is not None
        if op == "not_exists":
            return fact is None
        if op in ("eq", "in"):
            return any(_equals(fact, want) for want in self.values)
        if op in ("neq", "not_in"):
            return not any(_equals(fact, want) for want in self.values)
        want = self.values[0]
        if op == "contains":
            if isinstance(fact, str):
                return want.text is not None and want.text in fact
            if isinstance(fact, list):
                return any(_equals(element, want) for element in fact)
            return False
        if op == "starts_with":
            return isinstance(fact, str) and want.text is not None and fact.startswith(want.text)
        if op == "between":
            low, high = _order(fact, self.values[0]), _order(fact, self.values[1])
            return low is not None and high is not None and low >= 0 and high <= 0
        order = _order(fact, want)
        if order is None:
            return False
        return {"gt": order > 0, "gte": order >= 0, "lt": order < 0, "lte": order <= 0}[op]


class _Attribute(_Node):
    def __init__(self, condition: AttributeCondition):
        self.name = condition.attribute
        self.comparison = _Comparison(condition)

    def holds(self, facts: UserFacts, now: datetime) -> bool:
        return self.comparison.test(facts.attributes.get(self.name))

    def partial(self, attributes: Mapping[str, Any], tags: frozenset[str]) -> bool | None:
        return self.comparison.test(attributes.get(self.name))


class _Tag(_Node):
    def __init__(self, condition: TagCondition):
        self.tag = condition.tag
        self.wanted = condition.op == "has"

    def holds(self, facts: UserFacts, now: datetime) -> bool:
        return (self.tag in facts.tags) == self.wanted

    def partial(self, attributes: Mapping[str, Any], tags: frozenset[str]) -> bool | None:
        return (self.tag in tags) == self.wanted


class _Behaviour(_Node):
    def __init__(self, condition: BehaviourCondition):
        self.event = condition.event
        self.did = condition.op == "did"
        self.min_count = condition.min_count
        self.within = timedelta(days=condition.within_days) if condition.within_days else None
        self.between = [_read_value(v) for v in condition.between] if condition.between else None
        self.where = [(w.property, _Comparison(w)) for w in condition.where or ()]

    def earliest(self, now: datetime) -> datetime | None:
        if self.within is not None:
            return now - self.within
        if self.between is not None:
            start = _moment(self.between[0].text, "time")
            assert isinstance(start, datetime)
            return start
        return None

    def _counts(self, moment: datetime, properties: Any, earliest: datetime | None) -> bool:
        if earliest is not None and moment < earliest:
            return False
        if self.between is not None:
            low, high = _order(moment, self.between[0]), _order(moment, self.between[1])
            if low is None or high is None or low < 0 or high > 0:
                return False
        if self.where:
            if not isinstance(properties, Mapping):
                properties = {}
            return all(comparison.test(properties.get(name)) for name, comparison in self.where)
        return True

    def holds(self, facts: UserFacts, now: datetime) -> bool:
        earliest = self.earliest(now)
        count = 0
        for stamp, properties in facts.events.get(self.event, ()):
            moment = _moment(stamp, "time")
            if isinstance(moment, datetime) and self._counts(moment, properties, earliest):
                count += 1
                if count >= self.min_count:
                    break
        return (count >= self.min_count) == self.did

    def partial(self, attributes: Mapping[str, Any], tags: frozenset[str]) -> bool | None:
        return None

    def needs(self, now: datetime) -> Iterable[tuple[str, datetime | None]]:
        return ((self.event, self.earliest(now)),)


class _Group(_Node):
    def __init__(self, match: str, conditions: Sequence[Any]):
        self.every = match == "all"
        self.parts = [_compile(c) for c in conditions]

    def holds(self, facts: UserFacts, now: datetime) -> bool:
        if self.every:
            return all(part.holds(facts, now) for part in self.parts)
        return any(part.holds(facts, now) for part in self.parts)

    def partial(self, attributes: Mapping[str, Any], tags: frozenset[str]) -> bool | None:
        decisive = not self.every  # the value that decides the group on its own
        unknown = False
        for part in self.parts:
            result = part.partial(attributes, tags)
            if result is None:
                unknown = True
            elif result == decisive:
                return decisive
        return None if unknown else not decisive

    def needs(self, now: datetime) -> Iterable[tuple[str, datetime | None]]:
        for part in self.parts:
            yield from part.needs(now)


def _compile(condition: Any) -> _Node:
    if isinstance(condition, AttributeCondition):
        return _Attribute(condition)
    if isinstance(condition, TagCondition):
        return _Tag(condition)
    if isinstance(condition, BehaviourCondition):
        return _Behaviour(condition)
    if isinstance(condition, Group):
        return _Group(condition.match, condition.conditions)
    raise TypeError(f"not a rule condition: {type(condition).__name__}")


@dataclass(frozen=True)
class CompiledRule:
    """A rule with its values read once: what a builder evaluates for every profile."""

    root: _Group


Rule = Union[RulesSource, CompiledRule]


def compile_rule(source: Rule) -> CompiledRule:
    """Read the rule's values once (times parsed, lists prepared) for many evaluations."""
    if isinstance(source, CompiledRule):
        return source
    return CompiledRule(_Group(source.match, source.conditions))


def matches(source: Rule, facts: UserFacts, now: datetime) -> bool:
    """Does this user belong to the audience the rule describes, at ``now``?"""
    return compile_rule(source).root.holds(facts, now)


def evaluate_partial(source: Rule, attributes: Mapping[str, Any], tags: frozenset[str]) -> bool | None:
    """The decision from the profile alone: True or False when behaviour cannot change it,
    None when the user's events are needed. Never contradicts ``matches``."""
    return compile_rule(source).root.partial(attributes, tags)


def behaviour_needs(source: Rule, now: datetime) -> dict[str, datetime | None]:
    """The events a decision may read: event name -> the earliest time that can count
    (None: every event held). Empty when the rule looks at profiles only."""
    needs: dict[str, datetime | None] = {}
    for name, earliest in compile_rule(source).root.needs(now):
        if name in needs:
            current = needs[name]
            needs[name] = None if current is None or earliest is None else min(current, earliest)
        else:
            needs[name] = earliest
    return needs
