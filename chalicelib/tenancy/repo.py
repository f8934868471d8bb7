"""The workspaces table's workspaces and API keys: every DynamoDB call of tenancy, as
plain records in and out. The rules (who may delete which key, what an id looks like)
stay in ``workspaces`` and ``keys``; the invariants are condition expressions here."""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, TransactWriteError, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import dynamo
from chalicelib.models.workspaces import (
    CATALOG, KEY_PREFIX, WORKSPACE_SK, ApiKeyItem, WorkspaceItem, created_key,
)

ADMIN = "admin"


@dataclass(frozen=True)
class WorkspaceRecord:
    id: str
    name: str
    timezone: str
    event_retention_days: int
    created_at: str
    updated_at: str
    admin_keys: int | None = None  # None: made before the count existed
    default_region: str | None = None  # e.g. "CN": how uploaded national phone numbers are read


@dataclass(frozen=True)
class KeyRecord:
    workspace_id: str
    key_id: str
    name: str
    role: str
    secret_hash: str
    hint: str
    created_at: str


@dataclass(frozen=True)
class Page:
    items: list[Any]
    last_key: dict[str, Any] | None


class AdminKeyWrite(Enum):
    DONE = "done"
    UNCOUNTED = "uncounted"  # the workspace has no admin_keys count yet (or is gone)
    KEY_GONE = "key_gone"  # delete: the key is not there (or not an admin key)
    LAST = "last"  # delete: it is the workspace's last admin key
    CONFLICT = "conflict"  # a concurrent transaction on the same items: try again


def _workspace(item: WorkspaceItem) -> WorkspaceRecord:
    return WorkspaceRecord(
        id=item.pk, name=item.name, timezone=item.timezone, event_retention_days=int(item.event_retention_days),
        created_at=item.created_at, updated_at=item.updated_at,
        admin_keys=None if item.admin_keys is None else int(item.admin_keys), default_region=item.default_region,
    )


def _key(item: ApiKeyItem) -> KeyRecord:
    return KeyRecord(workspace_id=item.pk, key_id=item.key_id, name=item.name, role=item.role,
                     secret_hash=item.secret_hash, hint=item.hint, created_at=item.created_at)


def _key_item(key: KeyRecord) -> ApiKeyItem:
    return ApiKeyItem(pk=key.workspace_id, sk=KEY_PREFIX + key.key_id, key_id=key.key_id, name=key.name,
                      role=key.role, secret_hash=key.secret_hash, hint=key.hint, created_at=key.created_at)


# --- workspaces ----------------------------------------------------------------------------

def create_workspace(workspace: WorkspaceRecord, first_key: KeyRecord) -> None:
    """The workspace (counting its one admin key, listed in ``by_creation``) and its first
    key, in one transaction."""
    item = WorkspaceItem(
        pk=workspace.id, sk=WORKSPACE_SK, name=workspace.name, timezone=workspace.timezone,
        event_retention_days=workspace.event_retention_days, created_at=workspace.created_at,
        updated_at=workspace.updated_at, admin_keys=1 if first_key.role == ADMIN else 0,
        catalog=CATALOG, created_key=created_key(workspace.created_at, workspace.id),
        default_region=workspace.default_region,
    )
    with dynamo.transaction() as tx:
        tx.save(item, condition=WorkspaceItem.pk.does_not_exist())
        tx.save(_key_item(first_key), condition=ApiKeyItem.pk.does_not_exist())


def get_workspace(workspace_id: str, *, consistent: bool = False) -> WorkspaceRecord | None:
    try:
        return _workspace(WorkspaceItem.get(workspace_id, WORKSPACE_SK, consistent_read=consistent))
    except DoesNotExist:
        return None


def update_workspace(workspace_id: str, changes: dict[str, Any], updated_at: str) -> WorkspaceRecord | None:
    """Set the given settings; None when the workspace does not exist."""
    item = WorkspaceItem(workspace_id, WORKSPACE_SK)
    actions: list[Action] = [WorkspaceItem.updated_at.set(updated_at)]
    actions += [getattr(WorkspaceItem, name).set(value) for name, value in changes.items()]
    try:
        item.update(actions=actions, condition=WorkspaceItem.pk.exists())
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return _workspace(item)


def list_workspaces(limit: int, start: dict[str, Any] | None) -> Page:
    """Every workspace, oldest first (the sparse index ``by_creation``)."""
    result = WorkspaceItem.by_creation.query(CATALOG, limit=limit, last_evaluated_key=start)
    return Page([_workspace(item) for item in result], result.last_evaluated_key)


# --- API keys ------------------------------------------------------------------------------

def get_key(workspace_id: str, key_id: str) -> KeyRecord | None:
    try:
        return _key(ApiKeyItem.get(workspace_id, KEY_PREFIX + key_id, consistent_read=True))
    except DoesNotExist:
        return None


def list_keys(workspace_id: str, limit: int | None = None, start: dict[str, Any] | None = None) -> Page:
    """A workspace's keys in sort-key order (key ids sort by creation time)."""
    result = ApiKeyItem.query(workspace_id, ApiKeyItem.sk.startswith(KEY_PREFIX), limit=limit,
                              last_evaluated_key=start, consistent_read=True)
    return Page([_key(item) for item in result], result.last_evaluated_key)


def put_key(key: KeyRecord) -> None:
    """A key that is not an admin key: one conditional put."""
    assert key.role != ADMIN, "admin keys are counted: use put_admin_key"
    _key_item(key).save(condition=ApiKeyItem.pk.does_not_exist())


def put_admin_key(key: KeyRecord) -> AdminKeyWrite:
    """The key and ``admin_keys + 1`` on its workspace, in one transaction (the workspace
    must exist and be counted)."""
    try:
        with dynamo.transaction() as tx:
            tx.save(_key_item(key), condition=ApiKeyItem.pk.does_not_exist())
            tx.update(WorkspaceItem(key.workspace_id, WORKSPACE_SK), actions=[WorkspaceItem.admin_keys.add(1)],
                      condition=WorkspaceItem.admin_keys.exists())
    except TransactWriteError as error:
        return _why_cancelled(error, on_key=None, on_workspace=AdminKeyWrite.UNCOUNTED)
    return AdminKeyWrite.DONE


def delete_key(workspace_id: str, key_id: str) -> bool:
    """Delete a key that is not an admin key; False when it is not there."""
    item = ApiKeyItem(workspace_id, KEY_PREFIX + key_id)
    try:
        item.delete(condition=ApiKeyItem.pk.exists() & (ApiKeyItem.role != ADMIN))
    except DeleteError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def delete_admin_key(workspace_id: str, key_id: str) -> AdminKeyWrite:
    """Delete an admin key and count it down, only while another admin key remains."""
    try:
        with dynamo.transaction() as tx:
            tx.delete(ApiKeyItem(workspace_id, KEY_PREFIX + key_id),
                      condition=ApiKeyItem.pk.exists() & (ApiKeyItem.role == ADMIN))
            tx.update(WorkspaceItem(workspace_id, WORKSPACE_SK),
                      actions=[WorkspaceItem.admin_keys.set(WorkspaceItem.admin_keys - 1)],
                      condition=WorkspaceItem.admin_keys > 1)
    except TransactWriteError as error:
        return _why_cancelled(error, on_key=AdminKeyWrite.KEY_GONE, on_workspace=AdminKeyWrite.LAST)
    return AdminKeyWrite.DONE


def _why_cancelled(error: TransactWriteError, *, on_key: AdminKeyWrite | None,
                   on_workspace: AdminKeyWrite) -> AdminKeyWrite:
    """Which of the two items (key, workspace) failed its condition; None re-raises."""
    if error.cause_response_code == "TransactionConflictException":
        return AdminKeyWrite.CONFLICT
    codes = [r.code if r is not None else "None" for r in (error.cancellation_reasons or [])]
    if "TransactionConflict" in codes:
        return AdminKeyWrite.CONFLICT
    if codes[:1] == ["ConditionalCheckFailed"] and on_key is not None:
        return on_key
    if codes[1:2] == ["ConditionalCheckFailed"]:
        return on_workspace
    raise error


def count_admin_keys_once(workspace_id: str, count: int) -> None:
    """Set a workspace's first ``admin_keys``; a no-op when it is already counted (or gone)."""
    try:
        WorkspaceItem(workspace_id, WORKSPACE_SK).update(
            actions=[WorkspaceItem.admin_keys.set(count)],
            condition=WorkspaceItem.pk.exists() & WorkspaceItem.admin_keys.does_not_exist(),
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
