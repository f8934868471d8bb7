"""Event definitions: declared event names and property types, checked on ingestion.

A definition changes only compatibly (a new description, added properties), so events
already accepted stay valid; each write is conditional on the version it was read at.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError

from chalicelib import clock, dynamo, pagination
from chalicelib.errors import Conflict, FieldError, Invalid, NotFound, Unavailable
from chalicelib.events.schemas import (
    EventDefinition, EventDefinitionChange, EventDefinitionCreate, EventIn, event_name_problem,
)
from chalicelib.models.base import plain
from chalicelib.models.workspaces import EVENTDEF_PREFIX, EventDefinitionItem
from chalicelib.schemas import PageQuery
from chalicelib.storable import render_path

MAX_TRIES = 5


def to_api(item: EventDefinitionItem) -> EventDefinition:
    props = plain(item.properties)
    return EventDefinition(name=item.name, description=item.description, properties=props,
                           created_at=item.created_at, updated_at=item.updated_at or item.created_at)


def check_name(name: str) -> str:
    problem = event_name_problem(name)
    if problem:
        raise Invalid("name", problem)
    return name


def create(workspace_id: str, request: EventDefinitionCreate, now: datetime) -> EventDefinition:
    item = _new_item(workspace_id, request.name, request, now)
    try:
        item.save(condition=EventDefinitionItem.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("already_exists", f"event {request.name} is already defined") from None
        raise
    return to_api(item)


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
    for attempt in range(MAX_TRIES):
        current = _get_item(workspace_id, name)
        if current is None:
            item, condition = _new_item(workspace_id, name, request, now), EventDefinitionItem.pk.does_not_exist()
        else:
            problems = incompatible_changes(plain(current.properties), dict(request.properties))
            if problems:
                error = Conflict("incompatible_change", f"event {name}: " + "; ".join(
                    f"{p.field} {p.message}" for p in problems[:5]))
                error.errors = problems
                raise error
            item, condition = _changed_item(current, request, now), _same_version(current)
        try:
            with dynamo.lost_race_on_conflict():
                item.save(condition=condition)
            return to_api(item)
        except dynamo.LostRace:
            dynamo.backoff(attempt)
    raise Unavailable(f"event {name} is being changed concurrently; try again")


def get(workspace_id: str, name: str) -> EventDefinition:
    item = _get_item(workspace_id, check_name(name))
    if item is None:
        raise NotFound(f"no event definition {name}")
    return to_api(item)


def delete(workspace_id: str, name: str) -> None:
    """Forget a definition: later events of that name are no longer type-checked; stored
    events are kept."""
    check_name(name)
    try:
        EventDefinitionItem(workspace_id, EVENTDEF_PREFIX + name).delete(condition=EventDefinitionItem.pk.exists())
    except DeleteError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise NotFound(f"no event definition {name}") from None
        raise


def list_page(workspace_id: str, query: PageQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    result = EventDefinitionItem.query(
        workspace_id, EventDefinitionItem.sk.startswith(EVENTDEF_PREFIX), limit=query.limit, last_evaluated_key=start,
    )
    return pagination.page(result, to_api)


def all_types(workspace_id: str) -> dict[str, dict[str, str]]:
    """name -> {property: type} for every definition of the workspace (one Query)."""
    items = EventDefinitionItem.query(workspace_id, EventDefinitionItem.sk.startswith(EVENTDEF_PREFIX))
    return {i.name: dict(to_api(i).properties) for i in items}


def _new_item(workspace_id: str, name: str, request: EventDefinitionChange, now: datetime) -> EventDefinitionItem:
    stamp = clock.iso(now)
    return EventDefinitionItem(
        pk=workspace_id, sk=EVENTDEF_PREFIX + name, name=name, description=request.description,
        properties=dict(request.properties), created_at=stamp, updated_at=stamp, version=1,
    )


def _changed_item(current: EventDefinitionItem, request: EventDefinitionChange, now: datetime) -> EventDefinitionItem:
    return EventDefinitionItem(
        pk=current.pk, sk=current.sk, name=current.name, description=request.description,
        properties=dict(request.properties), created_at=current.created_at, updated_at=clock.iso(now),
        version=int(current.version or 0) + 1,
    )


def _same_version(current: EventDefinitionItem) -> Any:
    if current.version is None:
        return EventDefinitionItem.pk.exists() & EventDefinitionItem.version.does_not_exist()
    return EventDefinitionItem.version == current.version


def _get_item(workspace_id: str, name: str) -> EventDefinitionItem | None:
    try:
        return EventDefinitionItem.get(workspace_id, EVENTDEF_PREFIX + name, consistent_read=True)
    except DoesNotExist:
        return None


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
