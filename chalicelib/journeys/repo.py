"""Journeys' storage (the journeys table), as plain records and graphs in and out.

Every write of a journey is conditioned on the revision (draft edits) or status (settings,
publish) its writer read, so a stale edit loses and is told so (409), never overwrites."""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError

from chalicelib import dynamo
from chalicelib.journeys.graph import Graph
from chalicelib.journeys.history import Draft
from chalicelib.models.base import plain
from chalicelib.models.journeys import (
    JOURNEY_SK, LIMITS_SK, JourneyItem, JourneysTableItem, LimitsItem, RevisionItem, VersionItem, catalog, journey_pk,
    revision_sk,
    version_sk,
)


@dataclass
class JourneyRecord:
    workspace_id: str
    journey_id: str
    name: str
    status: str
    settings: dict[str, Any]
    draft: Draft
    created_at: str
    updated_at: str
    template: str | None = None
    published_version: int | None = None
    published_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class LimitReached(Exception):
    """The workspace's live-journey counter is at its maximum."""


def pack(graph: Graph) -> bytes:
    return zlib.compress(json.dumps(graph.to_json(), separators=(",", ":"), ensure_ascii=False).encode(), 6)


def unpack(data: bytes) -> Graph:
    return Graph.from_json(json.loads(zlib.decompress(data)))


def _record(item: JourneyItem) -> JourneyRecord:
    return JourneyRecord(
        workspace_id=item.catalog.rsplit("#", 1)[0], journey_id=item.journey_id, name=item.name, status=item.status,
        settings=plain(item.settings), template=item.template,
        draft=Draft(int(item.revision), int(item.current), tuple(int(n) for n in item.undo or ()),
                    tuple(int(n) for n in item.redo or ())),
        published_version=int(item.published_version) if item.published_version is not None else None,
        published_at=item.published_at, created_at=item.created_at, updated_at=item.updated_at,
    )


def _journey_item(record: JourneyRecord) -> JourneyItem:
    return JourneyItem(
        pk=journey_pk(record.workspace_id, record.journey_id), sk=JOURNEY_SK, catalog=catalog(record.workspace_id),
        journey_id=record.journey_id, name=record.name, name_lower=record.name.lower(), status=record.status,
        settings=record.settings, template=record.template, revision=record.draft.revision,
        current=record.draft.current, undo=list(record.draft.undo), redo=list(record.draft.redo),
        published_version=record.published_version, published_at=record.published_at,
        created_at=record.created_at, updated_at=record.updated_at,
    )


def create(record: JourneyRecord, graph: Graph) -> bool:
    """The journey and its first draft snapshot, together; False if the id exists."""
    pk = journey_pk(record.workspace_id, record.journey_id)
    try:
        with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
            tx.save(_journey_item(record), condition=JourneyItem.pk.does_not_exist())
            tx.save(RevisionItem(pk=pk, sk=revision_sk(record.draft.current), graph=pack(graph),
                                 created_at=record.created_at))
        return True
    except dynamo.LostRace:
        return False


def get(workspace_id: str, journey_id: str) -> JourneyRecord | None:
    try:
        return _record(JourneyItem.get(journey_pk(workspace_id, journey_id), JOURNEY_SK, consistent_read=True))
    except DoesNotExist:
        return None


def get_graph(workspace_id: str, journey_id: str, snapshot: int) -> Graph:
    item = RevisionItem.get(journey_pk(workspace_id, journey_id), revision_sk(snapshot), consistent_read=True)
    return unpack(item.graph)


def get_version(workspace_id: str, journey_id: str, version: int) -> tuple[Graph, dict[str, Any]] | None:
    try:
        item = VersionItem.get(journey_pk(workspace_id, journey_id), version_sk(version), consistent_read=True)
    except DoesNotExist:
        return None
    return unpack(item.graph), plain(item.settings)


def commit_draft(record: JourneyRecord, read_revision: int, draft: Draft, graph: Graph | None,
                 dropped: list[int], now: str) -> bool:
    """Move the draft to ``draft`` if it is still at ``read_revision``: store ``graph`` as
    its new snapshot (None for undo/redo, which only move the pointer) and delete the
    snapshots the history let go, in one transaction. False when a concurrent edit won."""
    pk = journey_pk(record.workspace_id, record.journey_id)
    header = JourneyItem(pk, JOURNEY_SK)
    try:
        with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
            tx.update(header, actions=[
                JourneyItem.revision.set(draft.revision), JourneyItem.current.set(draft.current),
                JourneyItem.undo.set(list(draft.undo)), JourneyItem.redo.set(list(draft.redo)),
                JourneyItem.updated_at.set(now),
            ], condition=JourneyItem.revision == read_revision)
            if graph is not None:
                tx.save(RevisionItem(pk=pk, sk=revision_sk(draft.current), graph=pack(graph), created_at=now),
                        condition=RevisionItem.pk.does_not_exist())
            for number in dropped:
                tx.delete(RevisionItem(pk, revision_sk(number)))
        return True
    except dynamo.LostRace:
        return False


def update_settings(record: JourneyRecord, read_status: str, now: str) -> bool:
    """Store name and settings if the journey is still in the status read."""
    header = JourneyItem(journey_pk(record.workspace_id, record.journey_id), JOURNEY_SK)
    try:
        with dynamo.lost_race_on_conflict():
            header.update(actions=[
                JourneyItem.name.set(record.name), JourneyItem.name_lower.set(record.name.lower()),
                JourneyItem.settings.set(record.settings), JourneyItem.updated_at.set(now),
            ], condition=JourneyItem.status == read_status)
        return True
    except dynamo.LostRace:
        return False


def publish(record: JourneyRecord, read: JourneyRecord, graph: Graph, version: int, *, take_slot: bool,
            max_live: int, now: str) -> bool:
    """Freeze version ``version`` (never overwritten), point the journey at it with its new
    status if it is still as read, and, for a journey going live, take a slot of the
    workspace's live-journey counter (condition: below ``max_live``), all in one
    transaction. False on a lost race; LimitReached when the counter is full."""
    pk = journey_pk(record.workspace_id, record.journey_id)
    header = JourneyItem(pk, JOURNEY_SK)
    limits = LimitsItem(catalog(record.workspace_id), LIMITS_SK)
    try:
        with dynamo.transaction() as tx:
            tx.save(VersionItem(pk=pk, sk=version_sk(version), graph=pack(graph), settings=record.settings,
                                revision=read.draft.revision, published_at=now),
                    condition=VersionItem.pk.does_not_exist())
            tx.update(header, actions=[
                JourneyItem.status.set(record.status), JourneyItem.published_version.set(version),
                JourneyItem.published_at.set(now), JourneyItem.updated_at.set(now),
            ], condition=(JourneyItem.revision == read.draft.revision) & (JourneyItem.status == read.status))
            if take_slot:
                tx.update(limits, actions=[LimitsItem.live.add(1)],
                          condition=LimitsItem.live.does_not_exist() | (LimitsItem.live < max_live))
        return True
    except TransactWriteError as error:
        codes = [r.code if r is not None else "None" for r in (error.cancellation_reasons or [])]
        if take_slot and len(codes) == 3 and codes[2] == "ConditionalCheckFailed" and codes[1] != "ConditionalCheckFailed":
            raise LimitReached() from None
        if dynamo.is_retryable(error):
            return False
        raise


def live_count(workspace_id: str) -> int:
    try:
        return int(LimitsItem.get(catalog(workspace_id), LIMITS_SK, consistent_read=True).live or 0)
    except DoesNotExist:
        return 0


def delete(workspace_id: str, journey_id: str, statuses: tuple[str, ...]) -> bool:
    """Delete the journey if its status is one of ``statuses``, then its snapshots and
    versions (a crash in between leaves unreachable items under a pk nothing reads)."""
    pk = journey_pk(workspace_id, journey_id)
    if not dynamo.delete_if(JourneyItem(pk, JOURNEY_SK), JourneyItem.status.is_in(*statuses)):
        return False
    keys = [dynamo.key(i.pk, i.sk) for i in JourneysTableItem.query(pk)]
    dynamo.batch_delete(JourneyItem.Meta.table_name, keys)
    return True


def page(workspace_id: str, *, name: str | None, status: str | None, campaign_id: str | None, limit: int,
         start: dict[str, Any] | None) -> tuple[list[JourneyRecord], dict[str, Any] | None]:
    """Journeys oldest first: Query ``by_catalog``, filtered by name (substring, any case),
    status and campaign."""
    condition = None
    for part in ((JourneyItem.name_lower.contains(name.lower()) if name else None),
                 (JourneyItem.status == status if status else None),
                 (JourneyItem.settings["campaign_ids"].contains(campaign_id) if campaign_id else None)):
        if part is not None:
            condition = part if condition is None else condition & part
    result = JourneyItem.by_catalog.query(catalog(workspace_id), filter_condition=condition, limit=limit,
                                          last_evaluated_key=start)
    return [_record(i) for i in result], result.last_evaluated_key



