"""Journeys: drafts, their graph and edits (undo/redo), validation, publish, strategy templates."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import RootModel

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.errors import Invalid
from chalicelib.journeys import lifecycle, service, visibility
from chalicelib.schemas import Page, parse
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)
_OPS: dict[str, type] = {
    "insert": service.InsertOp, "connect": service.ConnectOp, "copy": service.CopyOp, "paste": service.PasteOp,
    "delete_subtree": service.NodeOp, "delete": service.NodeOp, "cut": service.CutOp,
    "configure": service.ConfigureOp, "add_ends": service.PlainOp, "undo": service.PlainOp, "redo": service.PlainOp,
}


class EditBody(RootModel[service.EditOp]):
    """One edit: ``op`` says which, ``revision`` the draft revision it applies to."""


def parse_edit(data: Any) -> Any:
    """The edit's model chosen by ``op``, so errors name fields as the client wrote them."""
    if not isinstance(data, dict):
        raise Invalid("body", "must be a JSON object")
    op = data.get("op")
    if not isinstance(op, str) or op not in _OPS:
        raise Invalid("op", "must be one of " + ", ".join(_OPS))
    return parse(_OPS[op], data)


@endpoint(bp, "/v1/journeys", "POST", role=Role.operator, body=service.JourneyCreate, response=service.JourneyFull,
          status=201)
def create_journey(principal: Principal, body: service.JourneyCreate) -> dict[str, Any]:
    """Create a draft journey, empty or from a strategy template."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/journeys", "GET", role=Role.viewer, query=service.JourneysQuery, response=Page[service.JourneyOut])
def list_journeys(principal: Principal, query: service.JourneysQuery) -> dict[str, Any]:
    """Journeys oldest first; ?status=, ?name= (part, any case) and ?campaign_id= filter."""
    return service.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/journey-templates", "GET", role=Role.viewer, response=Page[dict[str, Any]])
def list_journey_templates(principal: Principal) -> dict[str, Any]:
    """The strategy templates, each node listing in ``todo`` the fields still to fill."""
    return service.templates()


@endpoint(bp, "/v1/journeys/{journey_id}", "GET", role=Role.viewer, response=service.JourneyFull)
def get_journey(principal: Principal, journey_id: str) -> dict[str, Any]:
    """A journey: settings, status, the draft graph and its revision, the published version."""
    return service.get(workspace_of(principal), journey_id)


@endpoint(bp, "/v1/journeys/{journey_id}", "PUT", role=Role.operator, body=service.JourneySettings,
          response=service.JourneyOut)
def put_journey(principal: Principal, journey_id: str, body: service.JourneySettings) -> dict[str, Any]:
    """Replace the journey's name and settings (entry rules, times, goal, rate)."""
    return service.put_settings(workspace_of(principal), journey_id, body, clock.now())


@endpoint(bp, "/v1/journeys/{journey_id}", "DELETE", role=Role.operator, status=204)
def delete_journey(principal: Principal, journey_id: str) -> None:
    """Delete a draft or ended journey."""
    service.delete(workspace_of(principal), journey_id)


@endpoint(bp, "/v1/journeys/{journey_id}/graph", "PUT", role=Role.operator, body=service.GraphPut,
          response=service.JourneyFull)
def put_journey_graph(principal: Principal, journey_id: str, body: service.GraphPut) -> dict[str, Any]:
    """Replace the draft graph (409 stale_revision unless ``revision`` is the draft's)."""
    return service.put_graph(workspace_of(principal), journey_id, body, clock.now())


@endpoint(bp, "/v1/journeys/{journey_id}/edits", "POST", role=Role.operator, body=EditBody, body_parser=parse_edit,
          response=service.EditResult)
def edit_journey(principal: Principal, journey_id: str, body: Any) -> dict[str, Any]:
    """Edit the draft: insert, connect, copy, paste, delete_subtree, cut, add_ends, configure, undo, redo."""
    return service.edit(workspace_of(principal), journey_id, body, clock.now())


@endpoint(bp, "/v1/journeys/{journey_id}/validate", "POST", role=Role.operator, response=service.Validation)
def validate_journey(principal: Principal, journey_id: str) -> dict[str, Any]:
    """The draft's problems, each naming its node and field."""
    return service.check(workspace_of(principal), journey_id)


@endpoint(bp, "/v1/journeys/{journey_id}/publish", "POST", role=Role.operator, response=service.JourneyOut)
def publish_journey(principal: Principal, journey_id: str) -> dict[str, Any]:
    """Validate and freeze the draft as a new version; a draft becomes scheduled or running."""
    return service.publish(workspace_of(principal), journey_id, clock.now())


@endpoint(bp, "/v1/journeys/{journey_id}/pause", "POST", role=Role.operator, response=service.JourneyOut)
def pause_journey(principal: Principal, journey_id: str) -> dict[str, Any]:
    """Hold every user where they are (409 invalid_state unless running)."""
    return service.to_api(lifecycle.pause(workspace_of(principal), journey_id, clock.now()))


@endpoint(bp, "/v1/journeys/{journey_id}/resume", "POST", role=Role.operator, response=service.JourneyOut)
def resume_journey(principal: Principal, journey_id: str) -> dict[str, Any]:
    """Let held users continue (409 invalid_state unless paused)."""
    return service.to_api(lifecycle.resume(workspace_of(principal), journey_id, clock.now()))


@endpoint(bp, "/v1/journeys/{journey_id}/stop", "POST", role=Role.operator, response=service.JourneyOut)
def stop_journey(principal: Principal, journey_id: str) -> dict[str, Any]:
    """End the journey and every enrollment; frees its live slot (409 invalid_state once ended)."""
    return service.to_api(lifecycle.stop(workspace_of(principal), journey_id, clock.now()))


@endpoint(bp, "/v1/journeys/{journey_id}/stats", "GET", role=Role.viewer, response=dict[str, Any])
def journey_stats(principal: Principal, journey_id: str) -> dict[str, Any]:
    """Per node: entered, waiting, passed per branch, failed, exited, ended; per touch its sends."""
    return visibility.stats(workspace_of(principal), journey_id)


@endpoint(bp, "/v1/journeys/{journey_id}/users/{user_id}", "GET", role=Role.viewer, response=dict[str, Any])
def journey_user(principal: Principal, journey_id: str, user_id: str) -> dict[str, Any]:
    """The user's path: each entry, the nodes passed, when, the branch taken, the messages."""
    return visibility.user_path(workspace_of(principal), journey_id, user_id)
