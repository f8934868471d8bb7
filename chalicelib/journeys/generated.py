"""generate_audience nodes: the users who reach the node become an audience.

Each cohort reaching the node leaves its (sorted) ids in one collected item under the
node, keyed by the cohort id (a redelivery writes the same item), and schedules a rebuild
for the next minute (``journey_generate``; one per node and minute, however many cohorts
arrive). The rebuild merges every collected run into one ascending stream and writes it as
a new snapshot of the node's audience with the audiences' own member-page writing, then
makes it current: readers see whole snapshots only. The audience is made on the first
rebuild under a fixed id (``audjny`` + a hash of journey and node), source
``{"type": "journey", journey_id, node_id}``, and is never refreshed by rules. A rebuild
reads everything collected so far: one Query per node, a page of ids per cohort.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Any

from chalicelib import aws, clock, ids
from chalicelib.audiences import members
from chalicelib.audiences import repo as audiences_repo
from chalicelib.config import settings
from chalicelib.journeys.cohorts import Cohort
from chalicelib.models.journeys import journey_pk
from chalicelib.scheduling import dispatch
from chalicelib.scheduling.repo import Due

KIND = "journey_generate"


def audience_id(journey_id: str, node_id: str) -> str:
    return "audjny" + hashlib.sha256(f"{journey_id}\x1f{node_id}".encode()).hexdigest()[:20]


def _pk(workspace_id: str, journey_id: str, node_id: str) -> str:
    return f"{journey_pk(workspace_id, journey_id)}#gen#{node_id}"


def collect(cohort: Cohort, node_id: str, users: list[str], now: datetime) -> None:
    """Keep the cohort's users for the node's audience and schedule a rebuild."""
    if users:
        aws.dynamodb().put_item(TableName=settings.table("journeys"), Item={
            "pk": {"S": _pk(cohort.workspace_id, cohort.journey_id, node_id)}, "sk": {"S": cohort.cohort_id},
            "kind": {"S": "journey_generated"}, "ids": {"B": members.encode(sorted(set(users)))}})
    dispatch.schedule(KIND, cohort.workspace_id, f"{cohort.journey_id}.{node_id}", now + timedelta(minutes=1), now)


def _runs(workspace_id: str, journey_id: str, node_id: str) -> list[list[str]]:
    params: dict[str, Any] = {"TableName": settings.table("journeys"), "ConsistentRead": True,
                              "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": _pk(workspace_id, journey_id, node_id)}}}
    runs: list[list[str]] = []
    while True:
        answer = aws.dynamodb().query(**params)
        runs += [members.decode(raw["ids"]["B"]) for raw in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer:
            return runs
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def rebuild(workspace_id: str, journey_id: str, node_id: str, name: str, now: datetime) -> str:
    """A new snapshot of everyone collected so far, made current; returns the audience id."""
    aud = audience_id(journey_id, node_id)
    stamp = clock.iso(now)
    audience = audiences_repo.get_audience(workspace_id, aud)
    if audience is None:
        audiences_repo.create_audience(audiences_repo.AudienceRecord(
            workspace_id=workspace_id, audience_id=aud, name=name, visibility="public",
            source={"type": "journey", "journey_id": journey_id, "node_id": node_id}, owner_key_id=None,
            status="building", created_at=stamp, updated_at=stamp))
        audience = audiences_repo.get_audience(workspace_id, aud)
    assert audience is not None
    snapshot = audiences_repo.create_snapshot(audience, ids.ordered_id("snap_", now), 1, stamp)
    size, pages = audiences_repo.write_pages(snapshot, members.merge(_runs(workspace_id, journey_id, node_id)))
    audiences_repo.mark_ready(snapshot, size, pages, stamp)
    switched, previous = audiences_repo.make_current(snapshot, stamp)
    if switched and previous:  # readers that started on it have a day to finish
        audiences_repo.expire_snapshot(workspace_id, aud, previous, int((now + timedelta(days=1)).timestamp()), stamp)
    return aud


@dispatch.on_due(KIND)
def _rebuild_due(due: Due, now: datetime) -> None:
    from chalicelib.journeys import repo, runtime

    journey_id, node_id = due.item_id.split(".", 1)
    record = repo.get(due.workspace_id, journey_id)
    found = runtime.version_graph(due.workspace_id, journey_id, record.published_version) \
        if record and record.published_version else None
    node = found[0].node(node_id) if found else None
    rebuild(due.workspace_id, journey_id, node_id, str(node.config.get("name")) if node else node_id, now)


__all__ = ["collect", "rebuild", "audience_id"]
