"""Workspaces: the tenants. Every other record is keyed under a workspace id."""
from __future__ import annotations

from datetime import datetime

from pynamodb.exceptions import DoesNotExist
from pynamodb.expressions.update import Action

from chalicelib import clock, dynamo, ids
from chalicelib.config import settings
from chalicelib.errors import NotFound
from chalicelib.models.workspaces import WORKSPACE_SK, WorkspaceItem
from chalicelib.tenancy import keys
from chalicelib.tenancy.schemas import (
    ApiKeyCreate, Role, Workspace, WorkspaceCreate, WorkspaceCreated, WorkspacePatch,
)


def to_api(item: WorkspaceItem) -> Workspace:
    return Workspace(
        id=item.pk, name=item.name, timezone=item.timezone,
        event_retention_days=int(item.event_retention_days),
        created_at=item.created_at, updated_at=item.updated_at,
    )


def create(request: WorkspaceCreate, now: datetime) -> WorkspaceCreated:
    """Create a workspace and its first admin key in one transaction."""
    stamp = clock.iso(now)
    workspace = WorkspaceItem(
        pk=ids.new_id("ws"), sk=WORKSPACE_SK, name=request.name, timezone=request.timezone,
        event_retention_days=request.event_retention_days or settings.default_event_retention_days,
        created_at=stamp, updated_at=stamp,
    )
    key, token = keys.new_key_item(workspace.pk, ApiKeyCreate(name="first admin key", role=Role.admin), now)
    with dynamo.transaction() as tx:
        tx.save(workspace, condition=WorkspaceItem.pk.does_not_exist())
        tx.save(key, condition=WorkspaceItem.pk.does_not_exist())
    return WorkspaceCreated(workspace=to_api(workspace), api_key=keys.created(key, token))


def get_item(workspace_id: str) -> WorkspaceItem:
    try:
        return WorkspaceItem.get(workspace_id, WORKSPACE_SK)
    except DoesNotExist:
        raise NotFound(f"no workspace {workspace_id}") from None


def get(workspace_id: str) -> Workspace:
    return to_api(get_item(workspace_id))


def update(workspace_id: str, patch: WorkspacePatch, now: datetime) -> Workspace:
    item = get_item(workspace_id)
    actions: list[Action] = [WorkspaceItem.updated_at.set(clock.iso(now))]
    for field in ("name", "timezone", "event_retention_days"):
        value = getattr(patch, field)
        if value is not None:
            actions.append(getattr(WorkspaceItem, field).set(value))
    item.update(actions=actions, condition=WorkspaceItem.pk.exists())
    return to_api(item)
