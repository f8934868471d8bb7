"""Event definitions: declared event names and property types, checked on ingestion.

A definition changes only compatibly (a new description, added properties), so events
already accepted stay valid; each write is conditional on the version it was read at.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock, dynamo, pagination
from chalicelib.errors import Conflict, FieldError, Invalid, NotFound
from chalicelib.events import repo
from chalicelib.events.repo import DefinitionRecord
from chalicelib.events.schemas import (
    EventDefinition, EventDefinitionChange, EventDefinitionCreate, EventIn, event_name_problem,
)
from chalicelib.schemas import PageQuery
from chalicelib.storable import render_path

MAX_TRIES = 5


def to_api(record: DefinitionRecord) -> EventDefinition:
    return EventDefinition(name=record.name, description=record.description, properties=record.properties,
                           created_at=record.created_at, updated_at=record.updated_at)


def check_name(name: str) -> str:
    problem = event_name_problem(name)
    if problem:
        raise Invalid("name", problem)
    return name


def create(workspace_id: str, request: EventDefinitionCreate, now: datetime) -> EventDefinition:
    record = _new(request.name, request, now)
    if not repo.put_definition(workspace_id, record, None):
        raise Conflict("already_exists", f"event {request.name} is already defined")
    return to_api(record)


def incompatible_changes(current: dict[str, str], wanted: dict[str, str]) -> list[FieldError]:
    """Why ``wanted`` cannot replace ``current`` (pure): a property removed or retyped."""
    problems = []
    for prop, kind in current.items():
        path = render_path((prop,), "properties")
        if prop not in wanted:
            problems.append(FieldError(path, f"is defined as {kind}; a definition cannot remove a property "
                                             "(delete the definition and define it again)"))
        elif wanted[prop] != kind:
            problems.append(FieldError(path, f"is defined as {kind}; a definition cannot change a property's "
                                             f"type to {wanted[prop]} (add a property with a new name)"))
    return problems


def put(workspace_id: str, name: str, request: EventDefinitionChange, now: datetime) -> EventDefinition:
    """Create the definition, or change it compatibly. The write is conditional on the
    version read, so of two concurrent PUTs the second is re-judged against the first."""
    check_name(name)

    def decide(current: DefinitionRecord | None) -> DefinitionRecord:
        if current is None:
            return _new(name, request, now)
        problems = incompatible_changes(current.properties, dict(request.properties))
        if problems:
            error = Conflict("incompatible_change", f"event {name}: " + "; ".join(
                f"{p.field} {p.message}" for p in problems[:5]))
            error.errors = problems
            raise error
        return _changed(current, request, now)

    return to_api(dynamo.read_decide_write(
        lambda: repo.get_definition(workspace_id, name), decide,
        lambda record, current: repo.put_definition(workspace_id, record, current),
        busy=f"event {name}", tries=MAX_TRIES))


def get(workspace_id: str, name: str) -> EventDefinition:
    record = repo.get_definition(workspace_id, check_name(name))
    if record is None:
        raise NotFound(f"no event definition {name}")
    return to_api(record)


def delete(workspace_id: str, name: str) -> None:
    """Forget a definition: later events of that name are no longer type-checked; stored
    events are kept."""
    check_name(name)
    if not repo.delete_definition(workspace_id, name):
        raise NotFound(f"no event definition {name}")


def list_page(workspace_id: str, query: PageQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    records, last = repo.list_definitions(workspace_id, query.limit, start)
    return {"items": [to_api(r) for r in records], "next_cursor": pagination.encode(last)}


def all_types(workspace_id: str) -> dict[str, dict[str, str]]:
    """name -> {property: type} for every definition of the workspace (one Query)."""
    return {r.name: dict(r.properties) for r in repo.list_definitions(workspace_id)[0]}


def _new(name: str, request: EventDefinitionChange, now: datetime) -> DefinitionRecord:
    stamp = clock.iso(now)
    return DefinitionRecord(name, request.description, dict(request.properties), stamp, stamp, 1)


def _changed(current: DefinitionRecord, request: EventDefinitionChange, now: datetime) -> DefinitionRecord:
    return DefinitionRecord(current.name, request.description, dict(request.properties), current.created_at,
                            clock.iso(now), (current.version or 0) + 1)


def _matches(kind: str, value: Any) -> bool:
    if value is None:
        return True
    if kind == "string":
        return isinstance(value, str)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "datetime":
        try:
            clock.parse_iso(value)
            return True
        except ValueError:  # clock.BadTime: not a time, or out of range in UTC
            return False
    if kind == "object":
        return isinstance(value, dict)
    return isinstance(value, list)


def check(events: list[EventIn], types: dict[str, dict[str, str]]) -> list[FieldError]:
    """Property values whose type differs from the event's definition."""
    errors = []
    for index, event in enumerate(events):
        declared = types.get(event.name, {})
        for prop, kind in declared.items():
            if prop in event.properties and not _matches(kind, event.properties[prop]):
                errors.append(FieldError(render_path((prop,), f"events[{index}].properties"),
                                         f"expected {kind} as defined for {event.name}"))
    return errors
