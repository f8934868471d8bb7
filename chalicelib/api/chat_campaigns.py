"""Chat campaigns: a published, manually triggered journey run for an audience on a plan."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.chat import service
from chalicelib.schemas import Page
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/chat-campaigns", "POST", role=Role.operator, body=service.ChatBody, response=service.ChatOut,
          status=201)
def create_chat_campaign(principal: Principal, body: service.ChatBody) -> service.ChatOut:
    """Create a chat campaign (pending until its start)."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/chat-campaigns", "GET", role=Role.viewer, query=service.ChatQuery, response=Page[service.ChatOut])
def list_chat_campaigns(principal: Principal, query: service.ChatQuery) -> dict[str, Any]:
    """Chat campaigns; ?name=, ?journey_id=, ?audience_id= and ?status= filter."""
    return service.list_page(workspace_of(principal), query, clock.now())


@endpoint(bp, "/v1/chat-campaigns/{chat_id}", "GET", role=Role.viewer, response=service.ChatOut)
def get_chat_campaign(principal: Principal, chat_id: str) -> service.ChatOut:
    """A chat campaign and its status."""
    return service.get(workspace_of(principal), chat_id, clock.now())


@endpoint(bp, "/v1/chat-campaigns/{chat_id}", "PUT", role=Role.operator, body=service.ChatBody,
          response=service.ChatOut)
def put_chat_campaign(principal: Principal, chat_id: str, body: service.ChatBody) -> service.ChatOut:
    """Modify a pending or paused chat campaign; a paused one resumes at its new start time."""
    return service.update(workspace_of(principal), chat_id, body, clock.now())


@endpoint(bp, "/v1/chat-campaigns/{chat_id}/suspend", "POST", role=Role.operator, response=service.ChatOut)
def suspend_chat_campaign(principal: Principal, chat_id: str) -> service.ChatOut:
    """Suspend an in_progress chat campaign."""
    return service.suspend(workspace_of(principal), chat_id, clock.now())


@endpoint(bp, "/v1/chat-campaigns/{chat_id}", "DELETE", role=Role.operator, status=204)
def delete_chat_campaign(principal: Principal, chat_id: str) -> None:
    """Delete a chat campaign that is not in progress."""
    service.delete(workspace_of(principal), chat_id, clock.now())
