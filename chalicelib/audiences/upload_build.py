"""Audiences from uploaded id lists: the upload URL, and the build that reads the file.

An upload audience (``{"type": "upload", "id_type": "user_id|phone|email", "encrypted"?}``)
is created waiting for its file (status ``awaiting_upload``). ``upload_url`` hands out a
presigned S3 PUT for ``<workspace_id>/audiences/<audience_id>/<upload_id>.csv`` in the
uploads bucket and records the upload id on the audience; ``start`` (``POST .../build``,
and a refresh, which reads the newest upload again) checks the object is there, makes a
one-segment snapshot whose source names the upload id, and queues an ``upload_build`` job
on audience-jobs (the handler has 900 s). ``run`` streams the object (64 KB chunks, one
line held at a time: ``uploads``), decrypts cells if the source says ``encrypted``, looks
the ids up 1,000 at a time (phones and emails: one Query each on the sparse index, 16 at
once; user ids: BatchGetItem), and ends like a scan build: the sorted user ids are
written as the segment's run, the segment is counted once, and ``builder.seal`` turns the
run into member pages and the snapshot ready. The file's report (rows, matched,
unmatched, malformed, duplicates, first bad line numbers) is kept on the snapshot.

Memory: the distinct ids seen (the dedupe) and the matched user ids are held as sets,
about 100-150 bytes per distinct id: a million-row list needs ~300 MB of the handler's
1,024 MB. A file above ``MAX_OBJECT_BYTES`` is refused before reading.
"""
from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from itertools import islice
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, ids, logs
from chalicelib.audiences import builder, crypto, repo, uploads
from chalicelib.audiences.messages import UploadBuild
from chalicelib.clock import iso
from chalicelib.config import settings
from chalicelib.errors import Conflict, NotFound
from chalicelib.tenancy import repo as tenancy_repo

URL_EXPIRES_SECONDS = 3600
CONTENT_TYPE = "text/csv"
MAX_OBJECT_BYTES = 256 * 1024 * 1024
CHUNK_BYTES = 64 * 1024
LOOKUP_BATCH = 1000
RUN_SEGMENT = 0  # an upload build is one segment


def object_key(workspace_id: str, audience_id: str, upload_id: str) -> str:
    return f"{workspace_id}/audiences/{audience_id}/{upload_id}.csv"


def upload_url(audience: repo.AudienceRecord, now: datetime) -> dict[str, Any]:
    """A presigned PUT for a new id list of this audience; the next build reads it."""
    if audience.source.get("type") != "upload":
        raise Conflict("not_an_upload", "only audiences with an upload source take an id list file")
    upload_id = ids.ordered_id("upl", now)
    key = object_key(audience.workspace_id, audience.audience_id, upload_id)
    if not repo.set_upload(audience.workspace_id, audience.audience_id, upload_id, iso(now)):
        raise NotFound(f"no audience {audience.audience_id}")
    url = aws.s3().generate_presigned_url(
        "put_object", Params={"Bucket": settings.bucket("uploads"), "Key": key, "ContentType": CONTENT_TYPE},
        ExpiresIn=URL_EXPIRES_SECONDS)
    expires = datetime.fromtimestamp(now.timestamp() + URL_EXPIRES_SECONDS, tz=now.tzinfo)
    return {"upload_id": upload_id, "url": url, "method": "PUT", "headers": {"Content-Type": CONTENT_TYPE},
            "expires_at": iso(expires)}


def start(audience: repo.AudienceRecord, now: datetime) -> repo.SnapshotRecord:
    """Build a snapshot from the audience's newest upload (queued on audience-jobs)."""
    if audience.upload_id is None:
        raise Conflict("no_upload", "no file yet: ask POST /v1/audiences/{id}/upload-url, PUT the CSV there, then build")
    key = object_key(audience.workspace_id, audience.audience_id, audience.upload_id)
    try:
        head = aws.s3().head_object(Bucket=settings.bucket("uploads"), Key=key)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            raise Conflict("no_upload", "the file has not been uploaded yet: PUT it to the upload URL, then build") \
                from None
        raise
    if int(head.get("ContentLength", 0)) > MAX_OBJECT_BYTES:
        raise Conflict("file_too_large", f"an id list file is at most {MAX_OBJECT_BYTES // (1024 * 1024)} MB; "
                                         "split it into several audiences")
    source = {**audience.source, "upload_id": audience.upload_id}
    snapshot = repo.create_snapshot(replace(audience, source=source), ids.ordered_id("snap_", now), 1, iso(now))
    job = UploadBuild(workspace_id=audience.workspace_id, audience_id=audience.audience_id,
                      snapshot_id=snapshot.snapshot_id)
    aws.sqs().send_message(QueueUrl=aws.queue_url(settings.queue("audience-jobs")), MessageBody=job.model_dump_json())
    logs.logger.info("audience upload build queued", extra={"audience_id": audience.audience_id,
                                                            "snapshot_id": snapshot.snapshot_id})
    return snapshot


def _chunks(body: Any) -> Iterator[bytes]:
    yield from body.iter_chunks(CHUNK_BYTES)


def _batches(values: Iterator[str], size: int) -> Iterator[list[str]]:
    while batch := list(islice(values, size)):
        yield batch


def run(job: UploadBuild, now: datetime) -> str:
    """Read the file into the snapshot, once. Returns ``sealed``, ``already_done``,
    ``duplicate``, ``not_building`` or ``failed``."""
    snapshot = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
    if snapshot is None or snapshot.status != "building":
        return "not_building"
    if RUN_SEGMENT in snapshot.done_segments:
        if snapshot.complete:
            builder.seal(snapshot, now)
        return "already_done"
    source = snapshot.source
    id_type = str(source.get("id_type"))
    decrypt = None
    if source.get("encrypted"):
        keys = crypto.read_keys(job.workspace_id)
        if not keys:
            repo.mark_failed(snapshot, "the list is encrypted but the workspace has no audience key: "
                                       "set it with PUT /v1/workspace/audience-key", iso(now))
            return "failed"
        decrypt = crypto.decryptor(keys)
    workspace = tenancy_repo.get_workspace(job.workspace_id)
    region = workspace.default_region if workspace else None
    report = uploads.Report()
    members: set[str] = set()
    try:
        body = aws.s3().get_object(Bucket=settings.bucket("uploads"),
                                   Key=object_key(job.workspace_id, job.audience_id, str(source.get("upload_id"))))["Body"]
        values = uploads.read_ids(uploads.lines(_chunks(body)), id_type, region, report, decrypt)
        with ThreadPoolExecutor(max_workers=repo.LOOKUP_THREADS) as pool:
            for batch in _batches(values, LOOKUP_BATCH):
                found = repo.users_for(job.workspace_id, id_type, batch, pool)
                report.matched += len(found)
                report.unmatched += len(batch) - len(found)
                for users in found.values():
                    members.update(users)
    except uploads.NotCsv as error:
        repo.mark_failed(snapshot, f"not a CSV id list: {error}", iso(now))
        return "failed"
    except ClientError as error:
        if error.response["Error"]["Code"] not in ("NoSuchKey", "404"):
            raise
        repo.mark_failed(snapshot, "the uploaded file is gone (uploads expire): upload it again", iso(now))
        return "failed"
    repo.set_upload_report(snapshot, report.to_json())
    matched = sorted(members)
    run_ref = repo.write_run(snapshot, RUN_SEGMENT, ids.new_id("a"), matched,
                             int(now.timestamp()) + builder.RUN_TTL_SECONDS)
    counted = repo.mark_segment_done(snapshot, RUN_SEGMENT, run_ref, len(matched))
    logs.logger.info("audience upload read", extra={"snapshot_id": snapshot.snapshot_id, "rows": report.rows,
                                                    "matched": report.matched, "malformed": report.malformed})
    if counted is None:  # a twin delivery counted it first
        again = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
        if again is not None and again.status == "building" and again.complete:
            builder.seal(again, now)
        return "duplicate"
    builder.seal(counted, now)
    return "sealed"


def fail(job: UploadBuild, reason: str, now: datetime) -> None:
    snapshot = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
    if snapshot is not None and snapshot.status == "building":
        repo.mark_failed(snapshot, reason, iso(now))
