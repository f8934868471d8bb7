"""Shared PynamoDB configuration.

Tables are created by infra/resources.yaml (cloud) and by the local stack from that same
file, never by ``Model.create_table``: the template is the one declaration.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.models import Model

from chalicelib.config import settings


def meta(table: str) -> Any:
    """A Meta class for a model on one of the template's tables."""

    class Meta:
        table_name = settings.table(table)
        region = settings.region
        max_retry_attempts = 5

    return Meta


class BaseModel(Model):
    """Base for every model; keys are (pk, sk) strings that start with the workspace id."""

    class Meta:
        abstract = True


def plain(value: Any) -> dict[str, Any]:
    """A raw MapAttribute's contents as a plain dict (empty when unset)."""
    if value is None:
        return {}
    return value.as_dict() if isinstance(value, MapAttribute) else dict(value)
