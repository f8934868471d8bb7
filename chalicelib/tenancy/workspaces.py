"""Workspaces: the tenants. Every other record is keyed under a workspace id."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import clock, ids, pagination
from chalicelib.config import settings
from chalicelib.errors import NotFound
from chalicelib.models.workspaces import CATALOG
from chalicelib.schemas import PageQuery
from chalicelib.tenancy import keys, repo
from chalicelib.tenancy.repo import WorkspaceRecord
from chalicelib.tenancy.schemas import (
    ApiKeyCreate, Role, Workspace, WorkspaceCreate, WorkspaceCreated, WorkspacePatch,
)


def to_api(record: WorkspaceRecord) -> Workspace:
    return Workspace(
        id=record.id, name=record.name, timezone=record.timezone,
        event_retention_days=record.event_retention_days, default_region=record.default_region,
        created_at=record.created_at, updated_at=record.updated_at,
    )


def create(request: WorkspaceCreate, now: datetime) -> WorkspaceCreated:
    """Create a workspace and its first admin key in one transaction."""
    stamp = clock.iso(now)
    workspace = WorkspaceRecord(
        id=ids.ordered_id("ws", now), name=request.name, timezone=request.timezone,
        event_retention_days=request.event_retention_days or settings.default_event_retention_days,
        created_at=stamp, updated_at=stamp, admin_keys=1, default_region=request.default_region,
    )
    key, token = keys.new_key_item(workspace.id, ApiKeyCreate(name="first admin key", role=Role.admin), now)
    repo.create_workspace(workspace, key)
    return WorkspaceCreated(workspace=to_api(workspace), api_key=keys.created(key, token))


def get(workspace_id: str) -> Workspace:
    record = repo.get_workspace(workspace_id)
    if record is None:
        raise NotFound(f"no workspace {workspace_id}")
    return to_api(record)


def update(workspace_id: str, patch: WorkspacePatch, now: datetime) -> Workspace:
    changes = {name: getattr(patch, name) for name in ("name", "timezone", "event_retention_days", "default_region")
               if getattr(patch, name) is not None}
    record = repo.update_workspace(workspace_id, changes, clock.iso(now))
    if record is None:
        raise NotFound(f"no workspace {workspace_id}")
    return to_api(record)


def list_page(query: PageQuery) -> dict[str, Any]:
    """Every workspace of the deployment, oldest first (organisation admin)."""
    start = pagination.decode(query.cursor, attribute="catalog", expected=CATALOG)
    page = repo.list_workspaces(query.limit, start)
    return {"items": [to_api(w) for w in page.items], "next_cursor": pagination.encode(page.last_key)}
