"""The audiences package's storage: audiences, snapshots, build runs and member pages,
as plain records in and out. What to build and when to seal is decided in ``builder``;
how ids are packed, in ``members``.

Invariants are conditions, not read-then-write: a snapshot is created only once, a
segment is counted only once (``NOT contains(done_segments, :segment)``), a snapshot turns
ready only from building, and an audience's ``current_snapshot`` only moves forward (to a
newer snapshot id; ids sort by creation time).
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist, UpdateError
from pynamodb.expressions.update import Action

from chalicelib import aws, dynamo
from chalicelib.audiences import members
from chalicelib.config import settings
from chalicelib.models.audiences import (
    AUDIENCE_SK, PAGE_PREFIX, USAGE_PREFIX, AudienceItem, SnapshotItem, UsageItem, audience_pk, members_pk, page_sk,
    run_pk, run_sk, snapshot_sk, usage_sk,
)
from chalicelib.models.audiences import ExportItem, export_sk
from chalicelib.models.base import plain
from chalicelib.models.profiles import PROFILE_SK, EventStatItem, ProfileItem, email_key, phone_key, user_pk
from chalicelib.profiles.repo import ProfileRecord, StatRecord
from chalicelib.profiles.schemas import CHANNELS

PAGES_PER_QUERY = 8  # member or run pages per Query (each at most ~64 KB compressed, usually a few KB)
# Raw page keys are ASCII-prefixed; "m#" .. "m$" bounds every page sort key.
_PAGES_FROM, _PAGES_TO = PAGE_PREFIX, PAGE_PREFIX[:-1] + chr(ord(PAGE_PREFIX[-1]) + 1)


@dataclass(frozen=True)
class AudienceRecord:
    workspace_id: str
    audience_id: str
    name: str
    visibility: str
    source: dict[str, Any]
    owner_key_id: str | None
    status: str
    created_at: str
    updated_at: str
    current_snapshot: str | None = None
    building_snapshot: str | None = None
    refresh: dict[str, Any] | None = None
    upload_id: str | None = None


@dataclass(frozen=True)
class RunRef:
    """The run a segment's winning attempt wrote: its attempt token and page count."""

    attempt: str
    pages: int
    groups: dict[str, int] = field(default_factory=dict)  # users per segment/stage name the segment saw


@dataclass(frozen=True)
class SnapshotRecord:
    workspace_id: str
    audience_id: str
    snapshot_id: str
    status: str
    source: dict[str, Any]
    started_at: str
    total_segments: int
    done_segments: frozenset[int] = frozenset()
    matched: int = 0
    runs: dict[int, RunRef] = field(default_factory=dict)
    size: int | None = None
    pages: int | None = None
    built_at: str | None = None
    reason: str | None = None
    superseded_at: str | None = None
    expires_at: int | None = None
    upload: dict[str, Any] | None = None  # upload builds: the file's report
    phase: str | None = None  # "values" | "members" for two-pass builds; None: one pass
    values_done: frozenset[int] = frozenset()
    value_runs: dict[int, RunRef] = field(default_factory=dict)
    prepared: str | None = None  # the first pass's result (JSON), e.g. RFM cut points
    distribution: dict[str, int] | None = None

    @property
    def complete(self) -> bool:
        """Every segment has marked itself done."""
        return len(self.done_segments) == self.total_segments

    @property
    def values_complete(self) -> bool:
        """Every segment has counted its values (the first pass of a two-pass build)."""
        return len(self.values_done) == self.total_segments


@dataclass(frozen=True)
class Candidate:
    """A profile of the workspace as a build sees it, with its event aggregates when asked."""

    profile: ProfileRecord
    stats: dict[str, StatRecord]


# --- audiences ------------------------------------------------------------------------------

def _audience(item: AudienceItem) -> AudienceRecord:
    return AudienceRecord(
        workspace_id=item.workspace_id, audience_id=item.audience_id, name=item.name, visibility=item.visibility,
        source=plain(item.source), owner_key_id=item.owner_key_id, status=item.status,
        created_at=item.created_at, updated_at=item.updated_at, current_snapshot=item.current_snapshot,
        building_snapshot=item.building_snapshot,
        refresh=plain(item.refresh_schedule) if item.refresh_schedule is not None else None,
        upload_id=item.upload_id,
    )


def create_audience(record: AudienceRecord) -> bool:
    """Store a new audience; False if one with this id exists."""
    item = AudienceItem(
        pk=audience_pk(record.workspace_id, record.audience_id), sk=AUDIENCE_SK, workspace_id=record.workspace_id,
        audience_id=record.audience_id, name=record.name, visibility=record.visibility, source=dict(record.source),
        owner_key_id=record.owner_key_id, status=record.status, created_at=record.created_at,
        updated_at=record.updated_at, current_snapshot=record.current_snapshot,
        building_snapshot=record.building_snapshot, refresh_schedule=dict(record.refresh) if record.refresh else None,
        catalog=catalog(record.workspace_id), source_type=str(record.source.get("type")), name_lower=record.name.lower(),
    )
    return dynamo.save_if(item, AudienceItem.pk.does_not_exist())


def catalog(workspace_id: str) -> str:
    return f"{workspace_id}#audiences"


def list_audiences(workspace_id: str, *, name: str | None, source_type: str | None, status: str | None,
                   limit: int, start: dict[str, Any] | None) -> tuple[list[AudienceRecord], dict[str, Any] | None]:
    """A workspace's audiences, oldest first: Query ``by_catalog``, filtered by name
    (substring, any case: ``contains`` on the lower-cased name), type and status."""
    condition = None
    for part in ((AudienceItem.name_lower.contains(name.lower()) if name else None),
                 (AudienceItem.source_type == source_type if source_type else None),
                 (AudienceItem.status == status if status else None)):
        if part is not None:
            condition = part if condition is None else condition & part
    result = AudienceItem.by_catalog.query(catalog(workspace_id), filter_condition=condition, limit=limit,
                                           last_evaluated_key=start)
    return [_audience(i) for i in result], result.last_evaluated_key


def delete_audience(workspace_id: str, audience_id: str) -> bool:
    return dynamo.delete_if(AudienceItem(audience_pk(workspace_id, audience_id), AUDIENCE_SK), AudienceItem.pk.exists())


def get_audience(workspace_id: str, audience_id: str) -> AudienceRecord | None:
    try:
        return _audience(AudienceItem.get(audience_pk(workspace_id, audience_id), AUDIENCE_SK, consistent_read=True))
    except DoesNotExist:
        return None


# --- snapshots ------------------------------------------------------------------------------

def _snapshot(item: SnapshotItem) -> SnapshotRecord:
    runs = {int(seg): _run_ref(ref) for seg, ref in plain(item.runs).items()}
    value_runs = {int(seg): _run_ref(ref) for seg, ref in plain(item.value_runs or {}).items()}
    return SnapshotRecord(
        workspace_id=item.workspace_id, audience_id=item.audience_id, snapshot_id=item.snapshot_id,
        status=item.status, source=plain(item.source), started_at=item.started_at,
        total_segments=int(item.total_segments), done_segments=frozenset(int(s) for s in item.done_segments or ()),
        matched=int(item.matched or 0), runs=runs, size=None if item.size is None else int(item.size),
        pages=None if item.pages is None else int(item.pages), built_at=item.built_at, reason=item.reason,
        superseded_at=item.superseded_at, expires_at=None if item.expires_at is None else int(item.expires_at),
        upload=plain(item.upload) if item.upload is not None else None,
        phase=item.phase, values_done=frozenset(int(s) for s in item.values_done or ()), value_runs=value_runs,
        prepared=item.prepared,
        distribution=None if item.distribution is None else {k: int(v) for k, v in plain(item.distribution).items()},
    )


def _run_ref(ref: Any) -> RunRef:
    return RunRef(str(ref["attempt"]), int(ref["pages"]), {str(k): int(v) for k, v in (ref.get("groups") or {}).items()})


def create_snapshot(audience: AudienceRecord, snapshot_id: str, total_segments: int, started_at: str,
                    phase: str | None = None) -> SnapshotRecord:
    """Start a build: the snapshot (building, with the audience's source as it is now), and
    the audience told which build is the newest (its status says building only while it has
    no ready snapshot)."""
    ws, aud = audience.workspace_id, audience.audience_id
    item = SnapshotItem(
        pk=audience_pk(ws, aud), sk=snapshot_sk(snapshot_id), workspace_id=ws, audience_id=aud,
        snapshot_id=snapshot_id, status="building", source=dict(audience.source), started_at=started_at,
        total_segments=total_segments, matched=0, runs={}, phase=phase, value_runs={} if phase else None,
    )
    item.save(condition=SnapshotItem.pk.does_not_exist())
    actions: list[Action] = [AudienceItem.building_snapshot.set(snapshot_id), AudienceItem.updated_at.set(started_at)]
    if audience.current_snapshot is None:
        actions.append(AudienceItem.status.set("building"))
    AudienceItem(pk=audience_pk(ws, aud), sk=AUDIENCE_SK).update(actions=actions)
    return _snapshot(item)


def get_snapshot(workspace_id: str, audience_id: str, snapshot_id: str) -> SnapshotRecord | None:
    try:
        return _snapshot(SnapshotItem.get(audience_pk(workspace_id, audience_id), snapshot_sk(snapshot_id),
                                          consistent_read=True))
    except DoesNotExist:
        return None


def mark_segment_done(snapshot: SnapshotRecord, segment: int, run: RunRef, matched: int) -> SnapshotRecord | None:
    """Count a segment once: add it to ``done_segments`` with its matches and kept run, unless
    it is there already or the snapshot is no longer building. The snapshot after the update,
    or None when the condition failed (a redelivery, or a build that ended)."""
    item = SnapshotItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=snapshot_sk(snapshot.snapshot_id))
    try:
        item.update(
            actions=[SnapshotItem.done_segments.add({segment}), SnapshotItem.matched.add(matched),
                     SnapshotItem.runs[str(segment)].set({"attempt": run.attempt, "pages": run.pages,
                                                          "groups": dict(run.groups)})],
            condition=(SnapshotItem.status == "building") & ~SnapshotItem.done_segments.contains(segment),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return _snapshot(item)


def mark_ready(snapshot: SnapshotRecord, size: int, pages: int, built_at: str,
               distribution: dict[str, int] | None = None) -> bool:
    """building -> ready, once; False if it was not building any more."""
    item = SnapshotItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=snapshot_sk(snapshot.snapshot_id))
    actions = [SnapshotItem.status.set("ready"), SnapshotItem.size.set(size),
               SnapshotItem.pages.set(pages), SnapshotItem.built_at.set(built_at)]
    if distribution is not None:
        actions.append(SnapshotItem.distribution.set(distribution))
    return _update_if(item, actions, SnapshotItem.status == "building")


def mark_failed(snapshot: SnapshotRecord, reason: str, now: str) -> bool:
    """building -> failed with a reason; the audience says failed if this was its newest build."""
    item = SnapshotItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=snapshot_sk(snapshot.snapshot_id))
    failed = _update_if(item, [SnapshotItem.status.set("failed"), SnapshotItem.reason.set(reason),
                               SnapshotItem.built_at.set(now)], SnapshotItem.status == "building")
    if failed:
        audience = AudienceItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=AUDIENCE_SK)
        _update_if(audience, [AudienceItem.status.set("failed"), AudienceItem.updated_at.set(now)],
                   AudienceItem.building_snapshot == snapshot.snapshot_id)
    return failed


def make_current(snapshot: SnapshotRecord, now: str) -> tuple[bool, str | None]:
    """Point the audience at this ready snapshot unless a newer one is current already.
    (switched, the snapshot it replaced)."""
    pk = audience_pk(snapshot.workspace_id, snapshot.audience_id)
    try:  # the client, not PynamoDB: Model.update cannot ask for the old values
        answer = aws.dynamodb().update_item(
            TableName=settings.table("audiences"), Key=dynamo.key(pk, AUDIENCE_SK), ReturnValues="UPDATED_OLD",
            UpdateExpression="SET current_snapshot = :s, updated_at = :now",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(current_snapshot) OR current_snapshot < :s)",
            ExpressionAttributeValues={":s": {"S": snapshot.snapshot_id}, ":now": {"S": now}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False, None
        raise
    audience = AudienceItem(pk=pk, sk=AUDIENCE_SK)
    previous = answer.get("Attributes", {}).get("current_snapshot", {}).get("S")
    _update_if(audience, [AudienceItem.status.set("ready")], AudienceItem.building_snapshot == snapshot.snapshot_id)
    return True, previous


def expire_snapshot(workspace_id: str, audience_id: str, snapshot_id: str, expires_at: int, now: str) -> int:
    """Let a superseded snapshot and its pages expire (TTL) at ``expires_at``: readers that
    started on it keep reading until then. Pages are re-put with the TTL attribute (Query and
    BatchWriteItem: no per-page update). Returns the pages rewritten."""
    rewritten = 0
    batch: list[dict[str, Any]] = []
    table = settings.table("audiences")
    for raw in _query_pages(members_pk(workspace_id, snapshot_id), _PAGES_FROM, _PAGES_TO):
        raw["expires_at"] = {"N": str(expires_at)}
        batch.append(raw)
        if len(batch) == 25:
            rewritten += dynamo.batch_put(table, batch)
            batch = []
    if batch:
        rewritten += dynamo.batch_put(table, batch)
    item = SnapshotItem(pk=audience_pk(workspace_id, audience_id), sk=snapshot_sk(snapshot_id))
    item.update(actions=[SnapshotItem.expires_at.set(expires_at), SnapshotItem.superseded_at.set(now)])
    return rewritten


def _update_if(item: Any, actions: list[Any], condition: Any) -> bool:
    try:
        item.update(actions=actions, condition=condition)
        return True
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise


# --- the build scan -------------------------------------------------------------------------

def table_item_count() -> int:
    """The profiles table's item count as DynamoDB last published it (about every six hours)."""
    return int(aws.dynamodb().describe_table(TableName=settings.table("profiles"))["Table"].get("ItemCount", 0))


def _profile(raw: dict[str, Any]) -> ProfileRecord:
    item = ProfileItem.from_raw_data(raw)
    return ProfileRecord(
        workspace_id=item.workspace_id, user_id=item.user_id, attributes=plain(item.attributes),
        channels={c: getattr(item, c) for c in CHANNELS}, tags=frozenset(item.tags or ()),
        created_at=item.created_at, updated_at=item.updated_at, version=int(item.version),
    )


def _stat(raw: dict[str, Any]) -> StatRecord:
    item = EventStatItem.from_raw_data(raw)
    return StatRecord(name=item.name, count=int(item.event_count), first_at=item.first_at, last_at=item.last_at,
                      sums=plain(item.sums))


def scan_segment(workspace_id: str, segment: int, total_segments: int, with_stats: bool) -> Iterator[Candidate]:
    """The workspace's profiles in one parallel-scan segment of the profiles table (1 MB
    pages; other workspaces' items and non-profile items are filtered out by DynamoDB). With
    ``with_stats`` each profile comes with its event aggregates: a user's items share a
    partition key, so they are all in the same segment."""
    params: dict[str, Any] = {
        "TableName": settings.table("profiles"), "Segment": segment, "TotalSegments": total_segments,
        "ExpressionAttributeNames": {"#kind": "kind"},
    }
    if with_stats:
        params["FilterExpression"] = "begins_with(pk, :prefix) AND #kind IN (:profile, :stat)"
        params["ExpressionAttributeValues"] = {":prefix": {"S": workspace_id + "#"}, ":profile": {"S": "profile"},
                                               ":stat": {"S": "stat"}}
    else:
        params["FilterExpression"] = "#kind = :profile AND workspace_id = :ws"
        params["ExpressionAttributeValues"] = {":profile": {"S": "profile"}, ":ws": {"S": workspace_id}}
    profiles: dict[str, ProfileRecord] = {}
    stats: dict[str, dict[str, StatRecord]] = {}
    while True:
        answer = aws.dynamodb().scan(**params)
        for raw in answer.get("Items", []):
            if not with_stats:
                profile = _profile(raw)
                yield Candidate(profile, {})
            elif raw["kind"]["S"] == "profile":
                profiles[raw["pk"]["S"]] = _profile(raw)
            else:
                stat = _stat(raw)
                stats.setdefault(raw["pk"]["S"], {})[stat.name] = stat
        if "LastEvaluatedKey" not in answer:
            break
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    for pk, profile in profiles.items():
        yield Candidate(profile, stats.get(pk, {}))


# --- runs and pages -------------------------------------------------------------------------

def write_run(snapshot: SnapshotRecord, segment: int, attempt: str, sorted_ids: Sequence[str], expires_at: int) -> RunRef:
    """Store one attempt's sorted matches of a segment as run pages (BatchWriteItem) under
    keys no other attempt uses; they expire at ``expires_at``."""
    pk = run_pk(snapshot.workspace_id, snapshot.snapshot_id, segment)
    items = [
        {"pk": {"S": pk}, "sk": {"S": run_sk(attempt, number)}, "kind": {"S": "run"},
         "ids": {"B": members.encode(page)}, "members": {"N": str(len(page))}, "expires_at": {"N": str(expires_at)}}
        for number, page in enumerate(members.pack(sorted_ids))
    ]
    dynamo.batch_put(settings.table("audiences"), items)
    return RunRef(attempt, len(items))


def read_run(snapshot: SnapshotRecord, segment: int, run: RunRef) -> Iterator[str]:
    """The ids of a kept run, ascending (strongly consistent Query, a few pages per call)."""
    if run.pages == 0:
        return
    pk = run_pk(snapshot.workspace_id, snapshot.snapshot_id, segment)
    for raw in _query_pages(pk, run_sk(run.attempt, 0), run_sk(run.attempt, run.pages - 1)):
        yield from members.decode(raw["ids"]["B"])


def write_pages(snapshot: SnapshotRecord, sorted_ids: Iterable[str]) -> tuple[int, int]:
    """Store an ascending stream of members as pages keyed by their first id (BatchWriteItem,
    25 pages a call, one page held in memory at a time besides the batch). Deterministic:
    the same members give the same items, so writing twice changes nothing.
    Returns (members, pages)."""
    pk = members_pk(snapshot.workspace_id, snapshot.snapshot_id)
    table = settings.table("audiences")
    total = pages = 0
    batch: list[dict[str, Any]] = []
    held: list[str] | None = None  # each page is written once the next one's first id is known

    def stored(page: list[str], following: str | None) -> dict[str, Any]:
        item = {"pk": {"S": pk}, "sk": {"S": page_sk(page[0])}, "kind": {"S": "members"},
                "ids": {"B": members.encode(page)}, "members": {"N": str(len(page))}, "last": {"S": page[-1]}}
        if following is not None:
            item["next"] = {"S": following}
        return item

    for page in members.pack(sorted_ids):
        if held is not None:
            batch.append(stored(held, page[0]))
        held = page
        total += len(page)
        pages += 1
        if len(batch) == 25:
            dynamo.batch_put(table, batch)
            batch = []
    if held is not None:
        batch.append(stored(held, None))
    if batch:
        dynamo.batch_put(table, batch)
    return total, pages


def _query_pages(pk: str, low: str, high: str, *, after: str | None = None) -> Iterator[dict[str, Any]]:
    params: dict[str, Any] = {
        "TableName": settings.table("audiences"), "ConsistentRead": True, "Limit": PAGES_PER_QUERY,
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :low AND :high",
        "ExpressionAttributeValues": {":pk": {"S": pk}, ":low": {"S": low}, ":high": {"S": high}},
    }
    if after is not None:
        params["ExclusiveStartKey"] = {"pk": {"S": pk}, "sk": {"S": after}}
    while True:
        answer = aws.dynamodb().query(**params)
        yield from answer.get("Items", [])
        if "LastEvaluatedKey" not in answer:
            return
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def iter_pages(workspace_id: str, snapshot_id: str) -> Iterator[list[str]]:
    """A snapshot's members page by page, ascending (one Query per few pages)."""
    for raw in _query_pages(members_pk(workspace_id, snapshot_id), _PAGES_FROM, _PAGES_TO):
        yield members.decode(raw["ids"]["B"])


def _page_holding(pk: str, user_id: str) -> dict[str, Any] | None:
    """The one page that may hold ``user_id``: the last page whose first id is <= it."""
    answer = aws.dynamodb().query(
        TableName=settings.table("audiences"), ConsistentRead=True, Limit=1, ScanIndexForward=False,
        KeyConditionExpression="pk = :pk AND sk BETWEEN :low AND :high",
        ExpressionAttributeValues={":pk": {"S": pk}, ":low": {"S": _PAGES_FROM}, ":high": {"S": page_sk(user_id)}},
    )
    items = answer.get("Items", [])
    return items[0] if items else None


def page_holding(workspace_id: str, snapshot_id: str, user_id: str) -> str | None:
    """The sort key of the one members page that may hold ``user_id`` (one Query), or None."""
    raw = _page_holding(members_pk(workspace_id, snapshot_id), user_id)
    return raw["sk"]["S"] if raw is not None else None


def members_after(workspace_id: str, snapshot_id: str, after: str | None, limit: int) -> tuple[list[str], str | None]:
    """Up to ``limit`` members in order after the cursor ``after`` (a user id; None: from the
    start), and the cursor for the next call (None at the end). One Query finds the page
    holding the cursor, then pages are read in order."""
    pk = members_pk(workspace_id, snapshot_id)
    out: list[str] = []
    start_page: dict[str, Any] | None = _page_holding(pk, after) if after is not None else None
    raws: Iterable[dict[str, Any]]
    if start_page is None:
        raws = _query_pages(pk, _PAGES_FROM, _PAGES_TO)
    else:
        raws = _chain_one(start_page, _query_pages(pk, _PAGES_FROM, _PAGES_TO, after=start_page["sk"]["S"]))
    for raw in raws:
        for user_id in members.decode(raw["ids"]["B"]):
            if after is not None and user_id <= after:
                continue
            if len(out) == limit:
                return out, out[-1]
            out.append(user_id)
    return out, None


def _chain_one(first: dict[str, Any], rest: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    yield first
    yield from rest


def members_in(workspace_id: str, snapshot_id: str, user_ids: Iterable[str]) -> set[str]:
    """Which of these users are members of the snapshot. The candidates are sorted; for the
    smallest unanswered one, one Query (descending, Limit 1) fetches the page that may hold
    it, which answers every candidate before the next page's first id (stored on the page).
    Cost: one Query per distinct page the candidates fall in (at most one per user checked),
    each reading one page strongly consistent (1 RCU per 4 KB: a page of 1,000 short ids
    is 1-2 RCU), plus one Query for each candidate that sorts before the first member."""
    pk = members_pk(workspace_id, snapshot_id)
    pending = sorted(set(user_ids))
    found: set[str] = set()
    at = 0
    while at < len(pending):
        raw = _page_holding(pk, pending[at])
        if raw is None:  # sorts before the first page: not a member
            at += 1
            continue
        following = raw["next"]["S"] if "next" in raw else None  # the next page's first id
        end = at
        while end < len(pending) and (following is None or pending[end] < following):
            end += 1
        found |= members.present(members.decode(raw["ids"]["B"]), pending[at:end])
        at = end  # every candidate before the next page is answered by this one
    return found


# --- uploads --------------------------------------------------------------------------------

LOOKUP_THREADS = 16  # concurrent index Queries of an upload build (bounded: a thread pool)


def set_upload(workspace_id: str, audience_id: str, upload_id: str, now: str) -> bool:
    """Record the newest upload URL handed out (what the next build reads); False if the audience is gone."""
    item = AudienceItem(pk=audience_pk(workspace_id, audience_id), sk=AUDIENCE_SK)
    return _update_if(item, [AudienceItem.upload_id.set(upload_id), AudienceItem.updated_at.set(now)],
                      AudienceItem.pk.exists())


def set_upload_report(snapshot: SnapshotRecord, report: dict[str, Any]) -> None:
    item = SnapshotItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=snapshot_sk(snapshot.snapshot_id))
    item.update(actions=[SnapshotItem.upload.set(report)])


def _users_with(workspace_id: str, index: str, attribute: str, value: str) -> list[str]:
    """The users whose profile holds this address key (one Query of a keys-only sparse index)."""
    answer = aws.dynamodb().query(
        TableName=settings.table("profiles"), IndexName=index, KeyConditionExpression="#k = :v",
        ExpressionAttributeNames={"#k": attribute}, ExpressionAttributeValues={":v": {"S": value}},
    )
    return [raw["pk"]["S"][len(workspace_id) + 1:] for raw in answer.get("Items", [])]


def users_for(workspace_id: str, id_type: str, values: Sequence[str], pool: Any = None) -> dict[str, list[str]]:
    """The user ids each value leads to (values with no profile are left out).
    ``user_id``: BatchGetItem of the profile keys (100 a call, keys only, eventually
    consistent); ``phone``/``email``: one Query per value on ``by_phone``/``by_email``,
    run on ``pool`` (a ThreadPoolExecutor) when given. Values are normalised as profiles
    store them (E.164; lower-cased email)."""
    if id_type == "user_id":
        table = settings.table("profiles")
        keys = [dynamo.key(user_pk(workspace_id, v), PROFILE_SK) for v in values]
        raw = dynamo.batch_get({table: keys}, projection={table: "pk"}, consistent=False)[table]
        found = {item["pk"]["S"][len(workspace_id) + 1:] for item in raw}
        return {v: [v] for v in values if v in found}
    index, attribute, key_of = (("by_email", "email_key", email_key) if id_type == "email"
                                else ("by_phone", "phone_key", phone_key))

    def lookup(value: str) -> list[str]:
        return _users_with(workspace_id, index, attribute, key_of(workspace_id, value))

    answers = pool.map(lookup, values) if pool is not None else map(lookup, values)
    return {value: users for value, users in zip(values, answers) if users}


# --- usage (running tasks and journeys that read an audience) ------------------------------

def _cancelled(error: ClientError) -> bool:
    return error.response["Error"]["Code"] == "TransactionCanceledException"


def acquire_usage(workspace_id: str, audience_id: str, user_kind: str, user_id: str, now: str) -> bool:
    """Record that ``user_kind``/``user_id`` reads the audience, counting it on the audience
    (one transaction: the audience must exist). True when recorded now, False when it was
    already (idempotent); raises LookupError when the audience does not exist."""
    table, pk = settings.table("audiences"), audience_pk(workspace_id, audience_id)
    try:
        aws.dynamodb().transact_write_items(TransactItems=[
            {"Update": {"TableName": table, "Key": dynamo.key(pk, AUDIENCE_SK), "UpdateExpression": "ADD in_use :one",
                        "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": table, "ConditionExpression": "attribute_not_exists(pk)", "Item": {
                **dynamo.key(pk, usage_sk(user_kind, user_id)), "kind": {"S": "usage"},
                "user_kind": {"S": user_kind}, "user_id": {"S": user_id}, "since": {"S": now}}}},
        ])
        return True
    except ClientError as error:
        if not _cancelled(error):
            raise
    if get_audience(workspace_id, audience_id) is None:
        raise LookupError(audience_id)
    return False


def release_usage(workspace_id: str, audience_id: str, user_kind: str, user_id: str) -> bool:
    """Remove the usage and its count (one transaction); False when it was not recorded."""
    table, pk = settings.table("audiences"), audience_pk(workspace_id, audience_id)
    try:
        aws.dynamodb().transact_write_items(TransactItems=[
            {"Delete": {"TableName": table, "Key": dynamo.key(pk, usage_sk(user_kind, user_id)),
                        "ConditionExpression": "attribute_exists(pk)"}},
            {"Update": {"TableName": table, "Key": dynamo.key(pk, AUDIENCE_SK), "UpdateExpression": "ADD in_use :minus",
                        "ConditionExpression": "attribute_exists(pk)", "ExpressionAttributeValues": {":minus": {"N": "-1"}}}},
        ])
        return True
    except ClientError as error:
        if not _cancelled(error):
            raise
    # not recorded, or the audience is gone (an admin's forced path, none today): drop the usage alone
    return dynamo.delete_if(UsageItem(pk, usage_sk(user_kind, user_id)), UsageItem.pk.exists())


def usages(workspace_id: str, audience_id: str, limit: int = 10) -> list[tuple[str, str]]:
    """Up to ``limit`` (user kind, user id) reading the audience: one Query."""
    answer = aws.dynamodb().query(
        TableName=settings.table("audiences"), ConsistentRead=True, Limit=limit,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :usage)",
        ExpressionAttributeValues={":pk": {"S": audience_pk(workspace_id, audience_id)}, ":usage": {"S": USAGE_PREFIX}},
    )
    return [(raw["user_kind"]["S"], raw["user_id"]["S"]) for raw in answer.get("Items", [])]


def delete_unused_audience(workspace_id: str, audience_id: str) -> bool:
    """Delete the audience if it exists and nothing uses it (``in_use`` absent or 0)."""
    item = AudienceItem(audience_pk(workspace_id, audience_id), AUDIENCE_SK)
    return dynamo.delete_if(item, AudienceItem.pk.exists() & (AudienceItem.in_use.does_not_exist()
                                                               | (AudienceItem.in_use <= 0)))


# --- two-pass builds: the first pass's per-segment values (audiences/rfm_build.py) ----------

VALUES_PREFIX = "v#"


def write_values(snapshot: SnapshotRecord, segment: int, attempt: str, chunks: Sequence[bytes],
                 expires_at: int) -> RunRef:
    """Store one attempt's first-pass summary of a segment (compressed chunks, each well under
    400 KB) beside the segment's run, under keys no other attempt uses."""
    pk = run_pk(snapshot.workspace_id, snapshot.snapshot_id, segment)
    items = [{"pk": {"S": pk}, "sk": {"S": VALUES_PREFIX + run_sk(attempt, number)}, "kind": {"S": "run"},
              "ids": {"B": chunk}, "members": {"N": "0"}, "expires_at": {"N": str(expires_at)}}
             for number, chunk in enumerate(chunks)]
    dynamo.batch_put(settings.table("audiences"), items)
    return RunRef(attempt, len(items))


def read_values(snapshot: SnapshotRecord, segment: int, run: RunRef) -> Iterator[bytes]:
    """The chunks a segment's kept first-pass attempt wrote, in order."""
    if run.pages == 0:
        return
    pk = run_pk(snapshot.workspace_id, snapshot.snapshot_id, segment)
    low, high = VALUES_PREFIX + run_sk(run.attempt, 0), VALUES_PREFIX + run_sk(run.attempt, run.pages - 1)
    for raw in _query_pages(pk, low, high):
        yield raw["ids"]["B"]


def mark_values_done(snapshot: SnapshotRecord, segment: int, run: RunRef) -> SnapshotRecord | None:
    """Count a segment's first pass once (as ``mark_segment_done`` does for members): None
    when it was counted already or the build left the first pass."""
    item = SnapshotItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=snapshot_sk(snapshot.snapshot_id))
    try:
        item.update(
            actions=[SnapshotItem.values_done.add({segment}),
                     SnapshotItem.value_runs[str(segment)].set({"attempt": run.attempt, "pages": run.pages})],
            condition=(SnapshotItem.status == "building") & (SnapshotItem.phase == "values")
            & ~SnapshotItem.values_done.contains(segment),
        )
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            return None
        raise
    return _snapshot(item)


def mark_prepared(snapshot: SnapshotRecord, prepared: str) -> bool:
    """First pass -> member pass, once, with its result; False if another delivery did it."""
    item = SnapshotItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=snapshot_sk(snapshot.snapshot_id))
    return _update_if(item, [SnapshotItem.phase.set("members"), SnapshotItem.prepared.set(prepared)],
                      (SnapshotItem.status == "building") & (SnapshotItem.phase == "values"))


def mark_members_queued(snapshot: SnapshotRecord) -> bool:
    """The member pass of a two-pass build is queued (phase members -> queued), so a
    redelivered first-pass job does not queue it again."""
    item = SnapshotItem(pk=audience_pk(snapshot.workspace_id, snapshot.audience_id), sk=snapshot_sk(snapshot.snapshot_id))
    return _update_if(item, [SnapshotItem.phase.set("queued")], SnapshotItem.phase == "members")


# --- exports ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ExportRecord:
    workspace_id: str
    audience_id: str
    export_id: str
    snapshot_id: str
    target: str
    spec: dict[str, Any]
    status: str
    created_at: str
    rows: int = 0
    batches: int = 0
    cursor: str | None = None
    offset: int = 0
    key: str | None = None
    upload_id: str | None = None
    parts: dict[int, str] = field(default_factory=dict)
    reason: str | None = None
    finished_at: str | None = None


def _export(item: ExportItem) -> ExportRecord:
    return ExportRecord(
        workspace_id=item.workspace_id, audience_id=item.audience_id, export_id=item.export_id,
        snapshot_id=item.snapshot_id, target=item.target, spec=plain(item.spec), status=item.status,
        created_at=item.created_at, rows=int(item.rows or 0), batches=int(item.batches or 0), cursor=item.cursor,
        offset=int(item.offset or 0), key=item.key, upload_id=item.upload_id,
        parts={int(n): str(tag) for n, tag in plain(item.parts).items()}, reason=item.reason,
        finished_at=item.finished_at,
    )


def create_export(record: ExportRecord, expires_at: int) -> bool:
    item = ExportItem(
        pk=audience_pk(record.workspace_id, record.audience_id), sk=export_sk(record.export_id),
        workspace_id=record.workspace_id, audience_id=record.audience_id, export_id=record.export_id,
        snapshot_id=record.snapshot_id, target=record.target, spec=dict(record.spec), status=record.status,
        created_at=record.created_at, rows=0, batches=0, offset=0, key=record.key, expires_at=expires_at,
    )
    return dynamo.save_if(item, ExportItem.pk.does_not_exist())


def get_export(workspace_id: str, audience_id: str, export_id: str) -> ExportRecord | None:
    try:
        return _export(ExportItem.get(audience_pk(workspace_id, audience_id), export_sk(export_id),
                                      consistent_read=True))
    except DoesNotExist:
        return None


def checkpoint_export(export: ExportRecord, *, cursor: str, offset: int, rows: int, batches: int,
                      upload_id: str | None = None, parts: dict[int, str] | None = None) -> bool:
    """Record what is acknowledged (absolute counts), while the export is running."""
    item = ExportItem(pk=audience_pk(export.workspace_id, export.audience_id), sk=export_sk(export.export_id))
    actions: list[Action] = [ExportItem.cursor.set(cursor), ExportItem.offset.set(offset), ExportItem.rows.set(rows),
                             ExportItem.batches.set(batches)]
    if upload_id is not None:
        actions.append(ExportItem.upload_id.set(upload_id))
    if parts is not None:
        actions.append(ExportItem.parts.set({str(n): tag for n, tag in parts.items()}))
    return _update_if(item, actions, ExportItem.status == "running")


def start_upload(export: ExportRecord, upload_id: str) -> bool:
    """Keep the multipart upload of an s3 export (once; a twin run's is aborted)."""
    item = ExportItem(pk=audience_pk(export.workspace_id, export.audience_id), sk=export_sk(export.export_id))
    return _update_if(item, [ExportItem.upload_id.set(upload_id), ExportItem.parts.set({})],
                      (ExportItem.status == "running") & ExportItem.upload_id.does_not_exist())


def finish_export(export: ExportRecord, status: str, finished_at: str, *, rows: int | None = None,
                  batches: int | None = None, reason: str | None = None) -> bool:
    """running -> done | failed, once."""
    item = ExportItem(pk=audience_pk(export.workspace_id, export.audience_id), sk=export_sk(export.export_id))
    actions: list[Action] = [ExportItem.status.set(status), ExportItem.finished_at.set(finished_at)]
    if rows is not None:
        actions.append(ExportItem.rows.set(rows))
    if batches is not None:
        actions.append(ExportItem.batches.set(batches))
    if reason is not None:
        actions.append(ExportItem.reason.set(reason))
    return _update_if(item, actions, ExportItem.status == "running")


def pages_from(workspace_id: str, snapshot_id: str, first: str | None) -> Iterator[tuple[str, list[str]]]:
    """A snapshot's pages (sort key, ids) in order from the page ``first`` (a page sort key,
    included) or from the start; a few pages per Query."""
    low = first or _PAGES_FROM
    for raw in _query_pages(members_pk(workspace_id, snapshot_id), low, _PAGES_TO):
        yield raw["sk"]["S"], members.decode(raw["ids"]["B"])
