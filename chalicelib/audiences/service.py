"""Audiences through the API: create (and build), read, members, refresh.

A source is validated by its type's schema; the types that can be built today are the
rule sources (``selectors``). A private audience is seen and used only by the key that
created it and by admins; a public one by the whole workspace.
"""
from __future__ import annotations

import base64
import hashlib
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from chalicelib import clock, ids, pagination
from chalicelib.config import settings
from chalicelib.audiences import aipl, builder, crypto, repo, rfm, rfm_build, task_result, upload_build, uploads, usage
from chalicelib.audiences import refresh as audience_refresh
from chalicelib.audiences.schemas import parse_source
from chalicelib.errors import Conflict, Invalid, NotFound, Unavailable
from chalicelib.schemas import Request, Response, parse
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

AWAITING_UPLOAD = "awaiting_upload"  # an upload audience before its first build


class AudienceCreate(Request):
    name: str = Field(min_length=1, max_length=100)
    visibility: Literal["private", "public"] = "private"
    source: dict[str, Any] = Field(description='{"type": "rules", "match": "all|any", "conditions": [...]}')
    refresh: audience_refresh.Refresh | None = Field(None, description="rebuild every N hours, days or weeks")


class Snapshot(Response):
    id: str
    status: str
    size: int | None = None
    built_at: str | None = None
    reason: str | None = None


class Audience(Response):
    id: str
    name: str
    visibility: str
    source: dict[str, Any]
    status: str = Field(description="building | ready | failed (of the newest build; a ready snapshot stays in use)")
    size: int | None = Field(None, description="members of the snapshot in use")
    built_at: str | None = None
    reason: str | None = None
    snapshot: Snapshot | None = Field(None, description="the snapshot tasks and journeys read now")
    distribution: dict[str, int] | None = Field(
        None, description="rfm: purchasers per segment; aipl: users per stage (of the snapshot in use, counted by its build)")
    building: Snapshot | None = Field(None, description="a refresh under way")
    upload: dict[str, Any] | None = Field(None, description=(
        "upload sources: the newest file's rows, matched, unmatched, malformed, duplicates and bad_lines "
        "(the first line numbers of malformed rows)"))
    created_at: str
    refresh: dict[str, Any] | None = Field(None, description="{every, unit}: rebuilt periodically")


class EstimateRequest(Request):
    source: dict[str, Any]


class Estimate(Response):
    size: int = Field(description="members the source would have now")
    exact: bool = Field(description="false when counted on a random sample of the profiles (a scan segment)")
    sampled_fraction: float = Field(description="the share of the profiles table read (1.0 when exact)")


ESTIMATE_SAMPLE_ITEMS = 5_000


class AudiencesQuery(Request):
    name: str | None = Field(None, min_length=1, max_length=100, description="part of the name, any case")
    type: Literal["rules", "rfm", "aipl", "upload", "task_result"] | None = None
    status: Literal["awaiting_upload", "building", "ready", "failed"] | None = None
    limit: int = Field(50, ge=1, le=200)
    cursor: str | None = None


class MembersQuery(Request):
    limit: int = Field(100, ge=1, le=1000)
    cursor: str | None = None


class Members(Response):
    snapshot_id: str
    items: list[str]
    next_cursor: str | None = None


def checked_source(data: dict[str, Any]) -> dict[str, Any]:
    """The source as stored (defaults filled in), or a 400 naming the bad part."""
    kind = data.get("type")
    if kind == "rules":
        return parse_source(data, prefix="source").to_json()
    if kind == "rfm":
        return parse(rfm.RfmSource, data, prefix="source").model_dump(mode="json", exclude_unset=True)
    if kind == "aipl":
        return parse(aipl.AiplSource, data, prefix="source").model_dump(mode="json", exclude_unset=True)
    if kind == "upload":
        return parse(uploads.UploadSource, data, prefix="source").model_dump(mode="json")
    if kind == "task_result":
        return parse(task_result.TaskResultSource, data, prefix="source").model_dump(mode="json")
    raise Invalid("source.type", "one of rules, rfm, aipl, upload, task_result")


def _snapshot(workspace_id: str, audience_id: str, snapshot_id: str | None) -> repo.SnapshotRecord | None:
    return repo.get_snapshot(workspace_id, audience_id, snapshot_id) if snapshot_id else None


def to_api(record: repo.AudienceRecord) -> Audience:
    current = _snapshot(record.workspace_id, record.audience_id, record.current_snapshot)
    newest = _snapshot(record.workspace_id, record.audience_id, record.building_snapshot)
    shown = newest if newest is not None and newest is not current and newest.status != "ready" else None
    view = lambda s: Snapshot(id=s.snapshot_id, status=s.status, size=s.size, built_at=s.built_at,  # noqa: E731
                              reason=s.reason) if s else None
    status = (shown.status if shown else None) or (current.status if current else "building")
    if current is None and newest is None and record.status == AWAITING_UPLOAD:
        status = AWAITING_UPLOAD
    report = (shown.upload if shown and shown.upload else None) or (current.upload if current else None)
    return Audience(id=record.audience_id, name=record.name, visibility=record.visibility, source=record.source,
                    status=status, size=current.size if current else None,
                    built_at=current.built_at if current else None, reason=shown.reason if shown else None,
                    snapshot=view(current), building=view(shown), upload=report, created_at=record.created_at,
                    distribution=current.distribution if current else None, refresh=record.refresh)


def _visible(principal: Principal, record: repo.AudienceRecord | None, audience_id: str) -> repo.AudienceRecord:
    admin = principal.role is Role.admin
    if record is None or (record.visibility == "private" and not admin and record.owner_key_id != principal.key_id):
        raise NotFound(f"no audience {audience_id}")
    return record


def create(principal: Principal, workspace_id: str, request: AudienceCreate, now: datetime) -> Audience:
    """Store the audience and start its first build (202: status building)."""
    source = checked_source(request.source)
    if source["type"] == "task_result":
        task_result.check_task(workspace_id, source)
    stamp = clock.iso(now)
    waits = source["type"] == "upload"  # built once its file is uploaded (POST .../build)
    record = repo.AudienceRecord(
        workspace_id=workspace_id, audience_id=ids.ordered_id("aud", now), name=request.name,
        visibility=request.visibility, source=source, owner_key_id=principal.key_id,
        status=AWAITING_UPLOAD if waits else "building",
        created_at=stamp, updated_at=stamp,
        refresh=request.refresh.model_dump(mode="json") if request.refresh else None,
    )
    if not repo.create_audience(record):
        raise Unavailable("an audience with this id appeared meanwhile; try again")
    if not waits:
        builder.build(workspace_id, record.audience_id, now)
    if request.refresh is not None:
        audience_refresh.schedule_first(workspace_id, record.audience_id, request.refresh, now)
    return to_api(repo.get_audience(workspace_id, record.audience_id) or record)


def visible(principal: Principal, workspace_id: str, audience_id: str) -> repo.AudienceRecord:
    """The audience if this caller may see and use it, else NotFound."""
    return _visible(principal, repo.get_audience(workspace_id, audience_id), audience_id)


def get(principal: Principal, workspace_id: str, audience_id: str) -> Audience:
    return to_api(_visible(principal, repo.get_audience(workspace_id, audience_id), audience_id))


def refresh(principal: Principal, workspace_id: str, audience_id: str, now: datetime) -> Audience:
    """A new snapshot; tasks and journeys keep reading the one they started with."""
    _visible(principal, repo.get_audience(workspace_id, audience_id), audience_id)
    builder.build(workspace_id, audience_id, now)
    return get(principal, workspace_id, audience_id)


def members(principal: Principal, workspace_id: str, audience_id: str, query: MembersQuery) -> Members:
    """The members of the snapshot in use, in user-id order, paged by cursor."""
    record = _visible(principal, repo.get_audience(workspace_id, audience_id), audience_id)
    if record.current_snapshot is None:
        raise NotFound(f"audience {audience_id} has no ready snapshot yet")
    after = None
    if query.cursor:
        key = pagination.decode(query.cursor, attribute="snapshot", expected=record.current_snapshot)
        after = (key or {}).get("after", {}).get("S")
    items, last = repo.members_after(workspace_id, record.current_snapshot, after, query.limit)
    cursor = pagination.encode({"snapshot": {"S": record.current_snapshot}, "after": {"S": last}}) if last else None
    return Members(snapshot_id=record.current_snapshot, items=items, next_cursor=cursor)


def list_page(principal: Principal, workspace_id: str, query: AudiencesQuery) -> dict[str, Any]:
    """The workspace's audiences the caller may see, oldest first (private ones of other
    keys are left out for non-admins, so a page may hold fewer than ``limit``)."""
    start = pagination.decode(query.cursor, attribute="catalog", expected=repo.catalog(workspace_id))
    found, last = repo.list_audiences(workspace_id, name=query.name, source_type=query.type, status=query.status,
                                      limit=query.limit, start=start)
    admin = principal.role is Role.admin
    visible = [r for r in found if r.visibility == "public" or admin or r.owner_key_id == principal.key_id]
    return {"items": [to_api(r) for r in visible], "next_cursor": pagination.encode(last)}


def delete(principal: Principal, workspace_id: str, audience_id: str, now: datetime) -> None:
    """Remove the audience; its snapshots expire after the grace period, so a reader that
    started on one finishes on it. Refused with 409 ``in_use`` while a running task or
    journey uses it (``usage``): the delete is conditioned on the audience's use count."""
    record = _visible(principal, repo.get_audience(workspace_id, audience_id), audience_id)
    _refuse_if_used(workspace_id, audience_id)
    if not repo.delete_unused_audience(workspace_id, audience_id):
        _refuse_if_used(workspace_id, audience_id)  # acquired between the Query and the delete
        raise NotFound(f"no audience {audience_id}")
    expires = int(now.timestamp()) + 3600 * settings.audience_snapshot_grace_hours
    for snapshot_id in {record.current_snapshot, record.building_snapshot} - {None}:
        assert snapshot_id is not None
        repo.expire_snapshot(workspace_id, audience_id, snapshot_id, expires, clock.iso(now))


def estimate(workspace_id: str, request: EstimateRequest, now: datetime) -> Estimate:
    """The size without a snapshot: exact for a small table; otherwise one parallel-scan
    segment, a uniform random sample (DynamoDB splits segments by a hash of the key), read
    and scaled up."""
    source = checked_source(request.source)
    if source["type"] == "task_result":
        task_result.check_task(workspace_id, source)
        return Estimate(size=len(task_result.users_with(workspace_id, str(source["task_id"]),
                                                        [str(s) for s in source["statuses"]])),
                        exact=True, sampled_fraction=1.0)
    if source["type"] == "upload":
        raise Invalid("source.type", "an uploaded list's size is known once it is built; estimates take rules, "
                                     "rfm or aipl sources")
    selector = builder.selector_for(source, now)
    segments = builder.plan_segments(repo.table_item_count(), ESTIMATE_SAMPLE_ITEMS, settings.audience_max_segments)
    segment = int.from_bytes(ids.new_id("").encode(), "big") % segments if segments > 1 else 0
    if builder.first_pass_of(source) is not None:  # RFM quintiles: cut points of the same sample
        sample = list(repo.scan_segment(workspace_id, segment, segments, True))
        selector = builder.selector_for(source, now, rfm_build.sample_prepared(source, sample, now))
        matched = builder.select(selector, sample)
    else:
        selector = builder.selector_for(source, now)
        matched = builder.select(selector, repo.scan_segment(workspace_id, segment, segments, selector.needs_events()))
    return Estimate(size=len(matched) * segments, exact=segments == 1, sampled_fraction=1 / segments)


def _refuse_if_used(workspace_id: str, audience_id: str) -> None:
    found = usage.users(workspace_id, audience_id)
    if found:
        raise Conflict("in_use", f"audience {audience_id} is in use by {usage.describe(found)}; "
                                 "delete it once they have finished")


class UploadUrl(Response):
    upload_id: str
    url: str = Field(description="PUT the CSV here (with the headers below) before expires_at")
    method: str
    headers: dict[str, str]
    expires_at: str


def upload_url(principal: Principal, workspace_id: str, audience_id: str, now: datetime) -> UploadUrl:
    """A presigned S3 PUT for the audience's id list; the next build reads that file."""
    record = _visible(principal, repo.get_audience(workspace_id, audience_id), audience_id)
    return UploadUrl(**upload_build.upload_url(record, now))


def build(principal: Principal, workspace_id: str, audience_id: str, now: datetime) -> Audience:
    """Build a snapshot now: an upload audience reads its newest file (409 ``no_upload``
    before the file is there); any other audience is refreshed."""
    return refresh(principal, workspace_id, audience_id, now)


class AudienceKeySet(Request):
    key: str | None = Field(None, max_length=128, description=(
        "the base64 of 32 random bytes (AES-256); omit it to have one generated and shown in this answer only"))


class AudienceKey(Response):
    fingerprint: str = Field(description="the first 16 hex digits of the key's SHA-256, to tell keys apart")
    generated: bool
    key: str | None = Field(None, description="a generated key, shown here once; a given key is never returned")


def set_audience_key(workspace_id: str, request: AudienceKeySet) -> AudienceKey:
    """Set or rotate the key of encrypted id lists (Secrets Manager; the previous key keeps
    decrypting lists until the next rotation)."""
    if request.key is None:
        key, generated = crypto.new_key(), True
    else:
        parsed = crypto.parse_key(request.key)
        if parsed is None:
            raise Invalid("key", "must be the base64 of exactly 32 bytes (an AES-256 key)")
        key, generated = parsed, False
    crypto.store_key(workspace_id, key)
    return AudienceKey(fingerprint=hashlib.sha256(key).hexdigest()[:16], generated=generated,
                       key=base64.b64encode(key).decode("ascii") if generated else None)
