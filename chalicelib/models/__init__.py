"""PynamoDB models, one module per table."""
from __future__ import annotations


def all_models() -> list[type]:
    from chalicelib.models.events import EventItem
    from chalicelib.models.profiles import ErasureItem, EventStatItem, ProfileItem
    from chalicelib.models.workspaces import ApiKeyItem, EventDefinitionItem, WorkspaceItem

    return [WorkspaceItem, ApiKeyItem, EventDefinitionItem, ProfileItem, EventStatItem, ErasureItem, EventItem]
