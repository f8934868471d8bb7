"""The audiences table: audiences, their snapshots, and snapshot members packed in pages.

pk = "<workspace_id>#aud#<audience_id>": sk = "audience" (the audience) or
"snap#<snapshot_id>" (one build; snapshot ids sort by creation time).
pk = "<workspace_id>#aud#<audience_id>": sk = "usage#<user kind>#<user id>" (a running task or
journey that reads the audience; the audience's ``in_use`` counts them, and delete is
conditioned on it being 0).
pk = "<workspace_id>#snap#<snapshot_id>": sk = "m#<first user id>" (a page of members,
ascending; the pages of a snapshot in key order are its members in order, and the page
that may hold a user is the last one whose first id is <= that user).
pk = "<workspace_id>#snap#<snapshot_id>#run#<segment>": sk = "<attempt>#<page number>"
(a build segment's sorted matches before the merge; expire by TTL a day or two later).
Every item carries ``kind`` (PynamoDB's discriminator). ``expires_at`` is the TTL: set on
runs when written and on a superseded snapshot's items after a grace period.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    BinaryAttribute, DiscriminatorAttribute, MapAttribute, NumberAttribute, NumberSetAttribute, UnicodeAttribute,
)

from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.models.base import BaseModel, meta

AUDIENCE_SK = "audience"
SNAPSHOT_PREFIX = "snap#"
PAGE_PREFIX = "m#"
USAGE_PREFIX = "usage#"


def audience_pk(workspace_id: str, audience_id: str) -> str:
    return f"{workspace_id}#aud#{audience_id}"


def snapshot_sk(snapshot_id: str) -> str:
    return SNAPSHOT_PREFIX + snapshot_id


def members_pk(workspace_id: str, snapshot_id: str) -> str:
    return f"{workspace_id}#snap#{snapshot_id}"


def usage_sk(user_kind: str, user_id: str) -> str:
    return f"{USAGE_PREFIX}{user_kind}#{user_id}"


def page_sk(first_id: str) -> str:
    return PAGE_PREFIX + first_id


def run_pk(workspace_id: str, snapshot_id: str, segment: int) -> str:
    return f"{workspace_id}#snap#{snapshot_id}#run#{segment:05d}"


def run_sk(attempt: str, page: int) -> str:
    return f"{attempt}#{page:06d}"


class AudiencesTableItem(BaseModel):
    """Any item of the audiences table; ``kind`` says which."""

    Meta = meta("audiences")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    expires_at = NumberAttribute(null=True)


class ByCatalog(GlobalSecondaryIndex["AudienceItem"]):
    """A workspace's audiences in creation order (only audience items carry ``catalog``)."""

    class Meta:
        index_name = "by_catalog"
        projection = AllProjection()

    catalog = UnicodeAttribute(hash_key=True)
    audience_id = UnicodeAttribute(range_key=True)


class AudienceItem(AudiencesTableItem, discriminator="audience"):
    workspace_id = UnicodeAttribute()
    audience_id = UnicodeAttribute()
    name = UnicodeAttribute()
    visibility = UnicodeAttribute()  # private | public
    source: MapAttribute[str, Any] = MapAttribute()  # the source as the client gave it (JSON)
    owner_key_id = UnicodeAttribute(null=True)
    status = UnicodeAttribute()  # building | ready | failed: of the newest build
    current_snapshot = UnicodeAttribute(null=True)  # the newest ready snapshot: what new readers use
    building_snapshot = UnicodeAttribute(null=True)
    refresh_schedule: MapAttribute[str, Any] = MapAttribute(null=True)  # {every, unit} ("refresh" is Model's)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    catalog = UnicodeAttribute(null=True)  # "<workspace_id>#audiences": by_catalog's hash key
    source_type = UnicodeAttribute(null=True)  # the source's type, for the list's filter
    name_lower = UnicodeAttribute(null=True)  # the name lower-cased, for the list's name filter
    upload_id = UnicodeAttribute(null=True)  # upload sources: the newest upload URL's id (what a build reads)
    in_use = NumberAttribute(null=True)  # usage items under the audience (running tasks, journeys)
    by_catalog = ByCatalog()


class SnapshotItem(AudiencesTableItem, discriminator="snapshot"):
    """One build of an audience. Segments mark themselves done once each (``done_segments``,
    a number set, added under ``NOT contains``) with their match count and the attempt
    whose run is kept; the segment that completes the set merges the runs into pages."""

    workspace_id = UnicodeAttribute()
    audience_id = UnicodeAttribute()
    snapshot_id = UnicodeAttribute()
    status = UnicodeAttribute()  # building | ready | failed
    source: MapAttribute[str, Any] = MapAttribute()  # the source this snapshot was built from
    started_at = UnicodeAttribute()
    total_segments = NumberAttribute()
    done_segments = NumberSetAttribute(null=True)
    matched = NumberAttribute(default=0)  # sum of the done segments' matches
    runs: MapAttribute[str, Any] = MapAttribute(default=dict)  # segment -> {"attempt", "pages"}
    size = NumberAttribute(null=True)  # members, once ready
    pages = NumberAttribute(null=True)
    built_at = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)  # why it failed
    superseded_at = UnicodeAttribute(null=True)
    upload: MapAttribute[str, Any] = MapAttribute(null=True)  # upload builds: rows, matched, unmatched, ...
    # Two-pass builds (RFM quintiles, audiences/rfm_build.py): phase "values" while segments
    # collect value counts (``values_done``, ``value_runs``), then "members" with ``prepared``
    # (the cut points, JSON) that every member segment scores against, "queued" once the
    # member pass is on the queue. None: one pass.
    phase = UnicodeAttribute(null=True)
    values_done = NumberSetAttribute(null=True)
    value_runs: MapAttribute[str, Any] = MapAttribute(null=True)  # segment -> {"attempt", "pages"}
    prepared = UnicodeAttribute(null=True)
    distribution: MapAttribute[str, Any] = MapAttribute(null=True)  # segment/stage name -> users, once ready


class MemberPageItem(AudiencesTableItem, discriminator="members"):
    """Up to a thousand members of a snapshot, ascending (audiences.members encodes them)."""

    ids = BinaryAttribute(legacy_encoding=False)
    members = NumberAttribute()
    last = UnicodeAttribute()
    next = UnicodeAttribute(null=True)  # the next page's first id (none on the last page)


class RunPageItem(AudiencesTableItem, discriminator="run"):
    """A page of one build segment's sorted matches, kept until the snapshot is merged."""

    ids = BinaryAttribute(legacy_encoding=False)
    members = NumberAttribute()


class UsageItem(AudiencesTableItem, discriminator="usage"):
    """A running task or journey that reads the audience (audiences.usage)."""

    user_kind = UnicodeAttribute()
    user_id = UnicodeAttribute()
    since = UnicodeAttribute()


EXPORT_PREFIX = "export#"


def export_sk(export_id: str) -> str:
    return EXPORT_PREFIX + export_id


class ExportItem(AudiencesTableItem, discriminator="export"):
    """One export of a snapshot's members (pk = the audience's, sk = "export#<id>").
    ``cursor`` is the page being delivered ("m#<first id>") and ``offset`` how many of its
    members are acknowledged: a resumed run starts there. s3 exports keep their multipart
    upload and the parts uploaded (each ends at a checkpoint)."""

    workspace_id = UnicodeAttribute()
    audience_id = UnicodeAttribute()
    export_id = UnicodeAttribute()
    snapshot_id = UnicodeAttribute()
    target = UnicodeAttribute()  # s3 | webhook | kafka
    spec: MapAttribute[str, Any] = MapAttribute()  # the request without secrets
    status = UnicodeAttribute()  # running | done | failed
    rows = NumberAttribute(default=0)
    batches = NumberAttribute(default=0)
    cursor = UnicodeAttribute(null=True)
    offset = NumberAttribute(default=0)
    key = UnicodeAttribute(null=True)  # s3: the object
    upload_id = UnicodeAttribute(null=True)
    parts: MapAttribute[str, Any] = MapAttribute(null=True)  # part number -> ETag
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    finished_at = UnicodeAttribute(null=True)
