"""The workspaces table: one item collection per workspace (settings, API keys, event definitions).

pk = workspace id; sk = "workspace" | "key#<key_id>" | "eventdef#<name>".
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel, meta

WORKSPACE_SK = "workspace"
KEY_PREFIX = "key#"
EVENTDEF_PREFIX = "eventdef#"


class WorkspaceItem(BaseModel):
    Meta = meta("workspaces")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True, default=WORKSPACE_SK)
    name = UnicodeAttribute()
    timezone = UnicodeAttribute()
    event_retention_days = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class ApiKeyItem(BaseModel):
    Meta = meta("workspaces")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    key_id = UnicodeAttribute()
    name = UnicodeAttribute()
    role = UnicodeAttribute()
    secret_hash = UnicodeAttribute()
    hint = UnicodeAttribute()
    created_at = UnicodeAttribute()


class EventDefinitionItem(BaseModel):
    Meta = meta("workspaces")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    properties: MapAttribute[str, Any] = MapAttribute(default=dict)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute(null=True)
    version = NumberAttribute(null=True)  # optimistic concurrency for PUT; absent on older items
