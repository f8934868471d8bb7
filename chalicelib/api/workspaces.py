"""Workspaces and API keys."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.schemas import Page, PageQuery
from chalicelib.tenancy import keys, workspaces
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import (
    ApiKey, ApiKeyCreate, ApiKeyCreated, Role, Workspace, WorkspaceCreate, WorkspaceCreated, WorkspacePatch,
)

bp = Blueprint(__name__)


@endpoint(bp, "/v1/workspaces", "POST", org=True, body=WorkspaceCreate, response=WorkspaceCreated, status=201)
def create_workspace(principal: Principal, body: WorkspaceCreate) -> WorkspaceCreated:
    """Create a workspace and its first admin key (organisation admin only)."""
    return workspaces.create(body, clock.now())


@endpoint(bp, "/v1/workspaces", "GET", org=True, query=PageQuery, response=Page[Workspace])
def list_workspaces(principal: Principal, query: PageQuery) -> dict[str, Any]:
    """Every workspace of the deployment, oldest first (organisation admin only)."""
    return workspaces.list_page(query)


@endpoint(bp, "/v1/workspace", "GET", role=Role.viewer, response=Workspace)
def get_workspace(principal: Principal) -> Workspace:
    """The caller's workspace and its settings."""
    return workspaces.get(workspace_of(principal))


@endpoint(bp, "/v1/workspace", "PATCH", role=Role.admin, body=WorkspacePatch, response=Workspace)
def patch_workspace(principal: Principal, body: WorkspacePatch) -> Workspace:
    """Change the workspace's name, time zone or event retention."""
    return workspaces.update(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/api-keys", "POST", role=Role.admin, body=ApiKeyCreate, response=ApiKeyCreated, status=201)
def create_api_key(principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create an API key; its secret is shown in this answer only."""
    return keys.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/api-keys", "GET", role=Role.admin, query=PageQuery, response=Page[ApiKey])
def list_api_keys(principal: Principal, query: PageQuery) -> dict[str, Any]:
    """The workspace's API keys, oldest first, without secrets."""
    return keys.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/api-keys/{key_id}", "DELETE", role=Role.admin, status=204)
def delete_api_key(principal: Principal, key_id: str) -> None:
    """Revoke an API key at once."""
    keys.delete(workspace_of(principal), key_id)
