"""Shared PynamoDB configuration.

Tables are created by infra/resources.yaml (cloud) and by the local stack from that same
file, never by ``Model.create_table``: the template is the one declaration.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute
from pynamodb.models import Model

from chalicelib import config
from chalicelib.config import settings


class _TableMeta(type):
    """Resolves ``Meta.table_name`` from the settings when first used, not at import."""

    _table: str

    @property
    def table_name(cls) -> str:
        return settings.table(cls._table)


def meta(table: str) -> Any:
    """A Meta class for a model on one of the template's tables."""

    class Meta(metaclass=_TableMeta):
        _table = table
        region = config.region()
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
