"""The journeys table: each journey's settings and draft pointer, its draft snapshots and
its immutable published versions; and per workspace the live-journey counter.

pk = "<workspace_id>#jny#<journey_id>": sk = "journey" (the journey), "rev#<n>" (the draft
graph as it was at revision n: the current one and those undo/redo can reach),
"ver#<n>" (published version n, never changed). pk = "<workspace_id>#journeys",
sk = "limits": how many journeys are live (scheduled, running or paused). Graphs are
stored as zlib-compressed compact JSON (a 200-node graph is about 60 KB as JSON, under
10 KB compressed), so no item nears DynamoDB's 400 KB. Every item carries ``kind``.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BinaryAttribute, DiscriminatorAttribute, ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, meta

JOURNEY_SK = "journey"
REVISION_PREFIX = "rev#"
VERSION_PREFIX = "ver#"
LIMITS_SK = "limits"


def journey_pk(workspace_id: str, journey_id: str) -> str:
    return f"{workspace_id}#jny#{journey_id}"


def catalog(workspace_id: str) -> str:
    return f"{workspace_id}#journeys"


def revision_sk(number: int) -> str:
    return f"{REVISION_PREFIX}{number:09d}"


def version_sk(number: int) -> str:
    return f"{VERSION_PREFIX}{number:06d}"


class JourneysTableItem(BaseModel):
    """Any item of the journeys table; ``kind`` says which."""

    Meta = meta("journeys")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class ByCatalog(GlobalSecondaryIndex["JourneyItem"]):
    class Meta:
        index_name = "by_catalog"
        projection = AllProjection()

    catalog = UnicodeAttribute(hash_key=True)
    journey_id = UnicodeAttribute(range_key=True)


class JourneyItem(JourneysTableItem, discriminator="journey"):
    catalog = UnicodeAttribute()
    journey_id = UnicodeAttribute()
    by_catalog = ByCatalog()
    name = UnicodeAttribute()
    name_lower = UnicodeAttribute()
    status = UnicodeAttribute()
    settings: MapAttribute[str, Any] = MapAttribute(default=dict)  # campaign_ids, start_at, end_at, group, entry...
    template = UnicodeAttribute(null=True)
    revision = NumberAttribute()
    current = NumberAttribute()  # the rev# snapshot holding the draft graph
    undo: ListAttribute[Any] = ListAttribute(of=NumberAttribute, default=list)
    redo: ListAttribute[Any] = ListAttribute(of=NumberAttribute, default=list)
    published_version = NumberAttribute(null=True)
    published_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


class RevisionItem(JourneysTableItem, discriminator="journey_revision"):
    graph = BinaryAttribute(legacy_encoding=False)
    created_at = UnicodeAttribute()


class VersionItem(JourneysTableItem, discriminator="journey_version"):
    graph = BinaryAttribute(legacy_encoding=False)
    settings: MapAttribute[str, Any] = MapAttribute(default=dict)
    revision = NumberAttribute()
    published_at = UnicodeAttribute()


class LimitsItem(JourneysTableItem, discriminator="journey_limits"):
    live = NumberAttribute(default=0)
