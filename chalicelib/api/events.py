"""Event ingestion and event definitions."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.events import definitions, ingest
from chalicelib.events.schemas import (
    EventDefinition, EventDefinitionChange, EventDefinitionCreate, EventsAccepted, EventsPost,
)
from chalicelib.schemas import Page, PageQuery
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/events", "POST", role=Role.operator, body=EventsPost, response=EventsAccepted, status=202)
def post_events(principal: Principal, body: EventsPost) -> EventsAccepted:
    """Report up to 500 events; they are stored and aggregated asynchronously."""
    return ingest.accept(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/event-definitions", "POST", role=Role.operator, body=EventDefinitionCreate,
          response=EventDefinition, status=201)
def create_event_definition(principal: Principal, body: EventDefinitionCreate) -> EventDefinition:
    """Declare an event and its property types; later events are checked against them."""
    return definitions.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/event-definitions", "GET", role=Role.viewer, query=PageQuery, response=Page[EventDefinition])
def list_event_definitions(principal: Principal, query: PageQuery) -> dict[str, Any]:
    """The declared events."""
    return definitions.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/event-definitions/{name}", "GET", role=Role.viewer, response=EventDefinition)
def get_event_definition(principal: Principal, name: str) -> EventDefinition:
    """One declared event."""
    return definitions.get(workspace_of(principal), name)


@endpoint(bp, "/v1/event-definitions/{name}", "PUT", role=Role.operator, body=EventDefinitionChange,
          response=EventDefinition)
def put_event_definition(principal: Principal, name: str, body: EventDefinitionChange) -> EventDefinition:
    """Create or change a definition; only compatible changes (description, added properties), else 409."""
    return definitions.put(workspace_of(principal), name, body, clock.now())


@endpoint(bp, "/v1/event-definitions/{name}", "DELETE", role=Role.operator, status=204)
def delete_event_definition(principal: Principal, name: str) -> None:
    """Forget a definition: type checks stop; stored events are kept."""
    definitions.delete(workspace_of(principal), name)
