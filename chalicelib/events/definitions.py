"""Event definitions: declared event names and property types, checked on ingestion."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import PutError

from chalicelib import clock, pagination
from chalicelib.errors import Conflict, FieldError
from chalicelib.events.schemas import EventDefinition, EventDefinitionCreate, EventIn
from chalicelib.models.base import plain
from chalicelib.models.workspaces import EVENTDEF_PREFIX, EventDefinitionItem
from chalicelib.schemas import PageQuery


def to_api(item: EventDefinitionItem) -> EventDefinition:
    props = plain(item.properties)
    return EventDefinition(name=item.name, description=item.description, properties=props, created_at=item.created_at)


def create(workspace_id: str, request: EventDefinitionCreate, now: datetime) -> EventDefinition:
    item = EventDefinitionItem(
        pk=workspace_id, sk=EVENTDEF_PREFIX + request.name, name=request.name,
        description=request.description, properties=dict(request.properties), created_at=clock.iso(now),
    )
    try:
        item.save(condition=EventDefinitionItem.pk.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict("already_exists", f"event {request.name} is already defined") from None
        raise
    return to_api(item)


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
        except (TypeError, ValueError, AttributeError):
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
                errors.append(FieldError(f"events[{index}].properties.{prop}", f"expected {kind} as defined for {event.name}"))
    return errors
