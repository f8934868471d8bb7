"""The workspaces table: one item collection per workspace (settings, API keys, event definitions).

pk = workspace id; sk = "workspace" | "key#<key_id>" | "eventdef#<name>".
GSI ``by_creation`` (catalog, created_key) holds workspace items only (only they carry
``catalog``), in creation order, for the org admin's list of workspaces.
Every item carries ``kind`` (PynamoDB's discriminator), so a query through one item class
returns only items of that kind.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import DiscriminatorAttribute, MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, meta

WORKSPACE_SK = "workspace"
KEY_PREFIX = "key#"
EVENTDEF_PREFIX = "eventdef#"
CATALOG = "workspaces"  # the one value of ``catalog``, the hash key of ``by_creation``


def created_key(created_at: str, workspace_id: str) -> str:
    return f"{created_at}#{workspace_id}"


class ByCreation(GlobalSecondaryIndex["WorkspaceItem"]):
    class Meta:
        index_name = "by_creation"
        projection = AllProjection()

    catalog = UnicodeAttribute(hash_key=True)
    created_key = UnicodeAttribute(range_key=True)


class WorkspacesTableItem(BaseModel):
    """Any item of the workspaces table; ``kind`` says which."""

    Meta = meta("workspaces")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class WorkspaceItem(WorkspacesTableItem, discriminator="workspace"):
    name = UnicodeAttribute()
    timezone = UnicodeAttribute()
    event_retention_days = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # How many admin keys the workspace has: deleting one is conditioned on > 1. Missing
    # on workspaces made before the count existed, until first needed (counted once).
    admin_keys = NumberAttribute(null=True)
    catalog = UnicodeAttribute(null=True)  # CATALOG on every workspace item: the sparse index's hash key
    created_key = UnicodeAttribute(null=True)  # "<created_at>#<workspace_id>"
    default_region = UnicodeAttribute(null=True)  # phonenumbers region of national numbers in id lists
    by_creation = ByCreation()


class ApiKeyItem(WorkspacesTableItem, discriminator="key"):
    key_id = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    hint = UnicodeAttribute()
    created_at = UnicodeAttribute()


class EventDefinitionItem(WorkspacesTableItem, discriminator="eventdef"):
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    properties: MapAttribute[str, Any] = MapAttribute(default=dict)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)  # optimistic concurrency for PUT; absent on older items
