"""Exports: push the members of an audience's snapshot out, to S3 (a CSV), a signed webhook
(batched JSON) or a Kafka topic (one record per user).

``POST /v1/audiences/{id}/exports`` stores an export (``running``) of the snapshot in use
and queues a ``run_export`` job on the audience-jobs queue. A run reads the snapshot's
member pages in order (a page of up to 1,000 ids at a time, never every member at once),
with the profiles' ``fields`` when asked (BatchGetItem, 100 profiles a call), delivers
them, and checkpoints what the target acknowledged on the export item (the page and how
many of its members, rows, batches): a run that is interrupted (a crash, a timeout, a
webhook down past its retries) is redelivered by SQS and continues from the checkpoint,
without sending acknowledged batches again. A run stops after ``PAGES_PER_RUN`` pages and
queues its own continuation, so one Lambda invocation stays far below its timeout.

* s3: a CSV (``user_id`` then the fields) in the uploads bucket under
  ``exports/<workspace>/<audience>/<export>.csv`` (the bucket expires ``exports/`` after 7
  days), written as a multipart upload: a part whenever ``PART_BYTES`` are buffered, each
  part a checkpoint (the upload id and the parts' ETags are on the export item); the read
  gives a presigned download link once done. Cells that a spreadsheet would run as a
  formula (starting with ``= + - @``, a tab or a carriage return) are prefixed with ``'``.
* webhook: POSTs of ``{export_id, audience_id, batch, users: [...]}`` (``batch_size``
  users, numbered from 1), signed HMAC-SHA256 over ``"<timestamp>.<body>"`` with headers
  ``X-MA-Timestamp`` and ``X-MA-Signature: v1=<hex>``. A 429, a 5xx or no answer is retried
  in a bounded loop with backoff (``BACKOFF_SECONDS``), then the run fails for SQS to
  redeliver it later (the checkpoint keeps the batches acknowledged); another 4xx fails the
  export with the status. The secret is a webhook provider's ``signing_secret``, or one
  given with the export, kept in Secrets Manager until the export ends.
* kafka: one record per user (key the user id, value the user as JSON) to the topic of
  the request or of a kafka provider (its ``bootstrap_servers``, ``security_protocol`` and
  SASL credentials); flushed and checkpointed per page.

Delivery is at least once: a run that dies after the target accepted a batch but before
the checkpoint was written sends that batch again (webhook receivers dedupe on
``export_id`` + ``batch``; Kafka consumers on the key).
"""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from chalicelib import aws, clock, ids, logs, storable
from chalicelib.audiences import repo
from chalicelib.audiences.messages import RunExport
from chalicelib.config import settings
from chalicelib.errors import Conflict, Invalid, NotFound
from chalicelib.profiles.repo import ProfileRecord, read_profiles
from chalicelib.profiles.schemas import ATTRIBUTE_NAME, CHANNELS
from chalicelib.schemas import JsonInt, Request, Response, refuse, rule
from chalicelib.sending import repo_providers
from chalicelib.sending.providers_config import NAME, URL

PART_BYTES = 8 * 1024 * 1024  # S3 parts are at least 5 MiB but the last
PAGES_PER_RUN = 200  # member pages one run delivers before queueing its continuation
RUN_SECONDS = 600.0  # or after this long (the audience-jobs function's timeout is 900 s)
BACKOFF_SECONDS: tuple[float, ...] = (1.0, 4.0, 15.0)  # waits between webhook attempts (4 attempts)
WEBHOOK_TIMEOUT_SECONDS = 10.0
KAFKA_TIMEOUT_SECONDS = 30.0
EXPORT_TTL_SECONDS = 30 * 86_400  # the export's status item
DOWNLOAD_SECONDS = 3600
MAX_FIELDS = 50
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TOPIC = rule(r"^[A-Za-z0-9._-]{1,249}$", "a Kafka topic: 1-249 letters, digits, '.', '_' or '-'")

sleep: Callable[[float], None] = time.sleep  # tests replace it


class ExportCreate(Request):
    target: Literal["s3", "webhook", "kafka"]
    fields: list[str] | None = Field(None, max_length=MAX_FIELDS, description=(
        "profile attributes or channels (email, phone, ...) to add to each user"))
    provider: str | None = Field(None, pattern=NAME, description="webhook or kafka: a provider of that kind")
    url: str | None = Field(None, max_length=2048, pattern=URL, description="webhook: where to POST")
    secret: str | None = Field(None, min_length=16, max_length=256,
                               description="webhook with url: the signing secret (kept until the export ends)")
    batch_size: JsonInt = Field(500, ge=1, le=1000, description="webhook: users per POST")
    bootstrap_servers: str | None = Field(None, min_length=1, max_length=1024,
                                          description="kafka: host:port[,host:port...]")
    topic: str | None = Field(None, pattern=TOPIC, description="kafka: the topic (else the provider's)")

    @field_validator("url", "secret", "bootstrap_servers")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        if value is not None and not storable.is_unicode(value):
            raise ValueError("must be valid Unicode (no lone surrogate escape such as \\ud800)")
        return value

    @field_validator("fields")
    @classmethod
    def _fields(cls, value: list[str] | None) -> list[str] | None:
        if value is None:
            return None
        problems: list[tuple[tuple[str | int, ...], str]] = []
        for i, name in enumerate(value):
            if not isinstance(name, str) or not ATTRIBUTE_NAME.match(name) or name == "user_id":
                problems.append(((i,), "an attribute name or a channel (email, phone, ...); user_id is always there"))
        if len(set(value)) != len(value):
            problems.append(((), "each field at most once"))
        if problems:
            refuse(problems)
        return value

    @model_validator(mode="after")
    def _target(self) -> ExportCreate:
        given = {k for k in ("provider", "url", "secret", "bootstrap_servers", "topic") if getattr(self, k) is not None}
        allowed = {"s3": set(), "webhook": {"provider", "url", "secret"},
                   "kafka": {"provider", "bootstrap_servers", "topic"}}[self.target]
        stray = sorted(given - allowed)
        if stray:
            refuse([((stray[0],), f"is not used by a {self.target} export")])
        if self.target == "webhook":
            if self.provider is None and (self.url is None or self.secret is None):
                refuse([(("url",), "a webhook export needs a webhook provider, or a url and a secret")])
            if self.provider is not None and (self.url is not None or self.secret is not None):
                refuse([(("provider",), "give a provider, or a url and a secret, not both")])
        if self.target == "kafka" and self.provider is None and (self.bootstrap_servers is None or self.topic is None):
            refuse([(("bootstrap_servers",), "a kafka export needs a kafka provider, or bootstrap_servers and a topic")])
        return self


class Export(Response):
    id: str
    audience_id: str
    snapshot_id: str
    target: str
    status: str = Field(description="running | done | failed")
    rows: int = Field(description="users delivered (acknowledged) so far")
    batches: int = Field(description="webhook: POSTs acknowledged; kafka: pages flushed; s3: parts uploaded")
    fields: list[str] = Field(default_factory=list)
    created_at: str
    finished_at: str | None = None
    reason: str | None = None
    download_url: str | None = Field(None, description="s3, once done: a presigned link, valid for an hour")


# --- pure parts ------------------------------------------------------------------------------

def neutralise(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: one that would start a formula gets a ``'``."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return str(value)


def csv_rows(users: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for user in users:
        writer.writerow([neutralise(cell_text(user.get(c))) for c in columns])
    return out.getvalue().encode("utf-8")


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=<hex>``: HMAC-SHA256 of ``"<timestamp>.<body>"`` (the shared webhook scheme)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def user_row(user_id: str, profile: ProfileRecord | None, fields: Sequence[str]) -> dict[str, Any]:
    row: dict[str, Any] = {"user_id": user_id}
    for name in fields:
        if profile is None:
            row[name] = None
        elif name in CHANNELS:
            row[name] = profile.channels.get(name)
        else:
            row[name] = profile.attributes.get(name)
    return row


def _json_default(value: Any) -> Any:
    return float(value) if hasattr(value, "is_integer") else str(value)


# --- creating and reading ----------------------------------------------------------------------

def _secret_id(workspace_id: str, export_id: str) -> str:
    return f"marketing-automation/{settings.stage}/{workspace_id}/exports/{export_id}"


def s3_key(workspace_id: str, audience_id: str, export_id: str) -> str:
    return f"exports/{workspace_id}/{audience_id}/{export_id}.csv"


def _check_provider(workspace_id: str, name: str, kind: str) -> None:
    provider = repo_providers.get(workspace_id, name)
    if provider is None:
        raise Invalid("provider", f"no provider named {name!r} in this workspace")
    if provider.kind != kind:
        raise Invalid("provider", f"provider {name!r} is a {provider.kind} provider; this export needs a {kind} one")


def create(audience: repo.AudienceRecord, request: ExportCreate, now: datetime) -> Export:
    """Store a running export of the snapshot in use and queue its first run."""
    if audience.current_snapshot is None:
        raise Conflict("not_ready", "the audience has no ready snapshot yet; export it once its status is ready")
    ws = audience.workspace_id
    if request.provider is not None:
        _check_provider(ws, request.provider, request.target)
        if request.target == "kafka" and request.topic is None:
            provider = repo_providers.get(ws, request.provider)
            if provider is None or not provider.settings.get("topic"):
                raise Invalid("topic", f"provider {request.provider!r} names no topic: give one")
    export_id = ids.ordered_id("exp", now)
    spec = request.model_dump(mode="json", exclude_none=True, exclude={"secret"})
    if request.secret is not None:
        aws.secretsmanager().create_secret(Name=_secret_id(ws, export_id), SecretString=request.secret,
                                           Description="the signing secret of one audience export; deleted when it ends")
    record = repo.ExportRecord(
        workspace_id=ws, audience_id=audience.audience_id, export_id=export_id,
        snapshot_id=audience.current_snapshot, target=request.target, spec=spec, status="running",
        created_at=clock.iso(now), key=s3_key(ws, audience.audience_id, export_id) if request.target == "s3" else None,
    )
    if not repo.create_export(record, int(now.timestamp()) + EXPORT_TTL_SECONDS):
        raise Conflict("exists", "an export with this id appeared meanwhile; try again")
    queue(RunExport(workspace_id=ws, audience_id=audience.audience_id, export_id=export_id))
    return to_api(record)


def get(audience: repo.AudienceRecord, export_id: str) -> Export:
    record = repo.get_export(audience.workspace_id, audience.audience_id, export_id)
    if record is None:
        raise NotFound(f"no export {export_id} of audience {audience.audience_id}")
    return to_api(record)


def to_api(record: repo.ExportRecord) -> Export:
    link = None
    if record.target == "s3" and record.status == "done" and record.key:
        link = aws.s3().generate_presigned_url("get_object", ExpiresIn=DOWNLOAD_SECONDS, Params={
            "Bucket": settings.bucket("uploads"), "Key": record.key,
            "ResponseContentDisposition": f'attachment; filename="{record.export_id}.csv"'})
    return Export(id=record.export_id, audience_id=record.audience_id, snapshot_id=record.snapshot_id,
                  target=record.target, status=record.status, rows=record.rows, batches=record.batches,
                  fields=list(record.spec.get("fields") or []), created_at=record.created_at,
                  finished_at=record.finished_at, reason=record.reason, download_url=link)


def queue(job: RunExport) -> None:
    aws.sqs().send_message(QueueUrl=aws.queue_url(settings.queue("audience-jobs")), MessageBody=job.model_dump_json())


# --- running -----------------------------------------------------------------------------------

class ExportRejected(Exception):
    """The target refused for good (e.g. a webhook's 4xx): the export fails with this reason."""


class ExportRetry(Exception):
    """The target is unavailable for now, after the bounded retries: SQS redelivers the run."""


@dataclass
class Progress:
    """What the target has acknowledged, as absolute counts (what a checkpoint stores)."""

    cursor: str | None
    offset: int
    rows: int
    batches: int
    parts: dict[int, str] = field(default_factory=dict)


def _pages(export: repo.ExportRecord) -> Iterator[tuple[str, int, list[str], bool]]:
    """(page key, first member not yet acknowledged, the page's ids, whether it is the last)
    from the checkpoint on (one page of lookahead: a run never stops just before the end)."""
    held: tuple[str, int, list[str]] | None = None
    for sk, page in repo.pages_from(export.workspace_id, export.snapshot_id, export.cursor):
        start = export.offset if sk == export.cursor else 0
        if start < len(page):
            if held is not None:
                yield (*held, False)
            held = (sk, start, page)
    if held is not None:
        yield (*held, True)


def _users(export: repo.ExportRecord, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    fields: list[str] = list(export.spec.get("fields") or [])
    profiles = read_profiles(export.workspace_id, user_ids) if fields else {}
    return [user_row(u, profiles.get(u), fields) for u in user_ids]


def run(job: RunExport, now: datetime) -> str:
    """Deliver from the checkpoint: ``done``, ``continued`` (a continuation is queued),
    ``failed`` (refused for good) or ``not_running``. Raises ExportRetry (or any passing
    error) for SQS to redeliver the run."""
    export = repo.get_export(job.workspace_id, job.audience_id, job.export_id)
    if export is None or export.status != "running":
        return "not_running"
    progress = Progress(export.cursor, export.offset, export.rows, export.batches, dict(export.parts))
    try:
        outcome = {"s3": _run_s3, "webhook": _run_webhook, "kafka": _run_kafka}[export.target](export, progress)
    except ExportRejected as error:
        fail(export, str(error), now)
        return "failed"
    if outcome == "continued":
        queue(job)
        return outcome
    if repo.finish_export(export, "done", clock.iso(clock.now()), rows=progress.rows, batches=progress.batches):
        _forget_secret(export)
        logs.logger.info("audience export done", extra={"export_id": export.export_id, "rows": progress.rows})
    return "done"


def fail(export: repo.ExportRecord, reason: str, now: datetime) -> None:
    if repo.finish_export(export, "failed", clock.iso(now), reason=reason):
        _forget_secret(export)
        if export.upload_id:
            try:
                aws.s3().abort_multipart_upload(Bucket=settings.bucket("uploads"), Key=export.key,
                                                UploadId=export.upload_id)
            except Exception:  # noqa: BLE001 - the bucket's lifecycle aborts it after a day anyway
                logs.logger.warning("could not abort an export's upload", extra={"export_id": export.export_id})


def fail_for_good(job: RunExport, reason: str, now: datetime) -> None:
    """The run failed on its last receive: the export fails with the reason."""
    export = repo.get_export(job.workspace_id, job.audience_id, job.export_id)
    if export is not None and export.status == "running":
        fail(export, reason, now)


def _forget_secret(export: repo.ExportRecord) -> None:
    if export.target == "webhook" and "url" in export.spec:
        try:
            aws.secretsmanager().delete_secret(SecretId=_secret_id(export.workspace_id, export.export_id),
                                               ForceDeleteWithoutRecovery=True)
        except Exception:  # noqa: BLE001 - nothing else reads it; log and go on
            logs.logger.warning("could not delete an export's secret", extra={"export_id": export.export_id})


def _checkpoint(export: repo.ExportRecord, progress: Progress, *, with_parts: bool = False) -> None:
    assert progress.cursor is not None
    if not repo.checkpoint_export(export, cursor=progress.cursor, offset=progress.offset, rows=progress.rows,
                                  batches=progress.batches, parts=progress.parts if with_parts else None):
        raise ExportRejected("the export was ended while it ran")


# --- s3 ---

def _enough(pages: int, started: float) -> bool:
    """Whether this run has done its share (pages or time) and should queue its continuation."""
    return pages >= PAGES_PER_RUN or time.monotonic() - started > RUN_SECONDS


def _run_s3(export: repo.ExportRecord, progress: Progress) -> str:
    started = time.monotonic()
    s3, bucket = aws.s3(), settings.bucket("uploads")
    assert export.key is not None
    upload_id = export.upload_id
    if upload_id is None:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=export.key, ContentType="text/csv; charset=utf-8",
                                               ServerSideEncryption="AES256")["UploadId"]
        if not repo.start_upload(export, upload_id):  # a twin run started one first: use that
            s3.abort_multipart_upload(Bucket=bucket, Key=export.key, UploadId=upload_id)
            again = repo.get_export(export.workspace_id, export.audience_id, export.export_id)
            if again is None or again.upload_id is None:
                raise ExportRejected("the export was ended while it ran")
            upload_id = again.upload_id
    columns = ["user_id", *(export.spec.get("fields") or [])]
    buffer = bytearray()
    if progress.cursor is None:
        buffer += csv_rows([{c: c for c in columns}], columns)  # the header
    pending_rows = 0

    def flush() -> None:
        number = len(progress.parts) + 1
        answer = s3.upload_part(Bucket=bucket, Key=export.key, UploadId=upload_id, PartNumber=number, Body=bytes(buffer))
        progress.parts[number] = answer["ETag"]
        progress.batches = len(progress.parts)
        progress.rows += pending_rows
        _checkpoint(export, progress, with_parts=True)

    pages = 0
    for sk, start, page, last in _pages(export):
        users = _users(export, page[start:])
        buffer += csv_rows(users, columns)
        pending_rows += len(users)
        progress.cursor, progress.offset = sk, len(page)
        pages += 1
        if len(buffer) >= PART_BYTES:
            flush()
            buffer.clear()
            pending_rows = 0
            if _enough(pages, started) and not last:
                return "continued"
    if buffer or not progress.parts:
        if progress.cursor is None:
            progress.cursor, progress.offset = "", 0  # an empty snapshot: the header alone
        flush()
    s3.complete_multipart_upload(Bucket=bucket, Key=export.key, UploadId=upload_id, MultipartUpload={
        "Parts": [{"PartNumber": n, "ETag": tag} for n, tag in sorted(progress.parts.items())]})
    return "done"


# --- webhook ---

def _webhook_target(export: repo.ExportRecord) -> tuple[str, str]:
    if "provider" in export.spec:
        provider = repo_providers.get(export.workspace_id, export.spec["provider"])
        if provider is None or provider.kind != "webhook" or not provider.settings.get("url"):
            raise ExportRejected(f"the webhook provider {export.spec['provider']!r} is gone or has no url")
        secret = repo_providers.read_credentials(export.workspace_id, export.spec["provider"]).get("signing_secret")
        if not secret:
            raise ExportRejected(f"the webhook provider {export.spec['provider']!r} has no signing_secret")
        return str(provider.settings["url"]), secret
    answer = aws.secretsmanager().get_secret_value(SecretId=_secret_id(export.workspace_id, export.export_id))
    return str(export.spec["url"]), str(answer["SecretString"])


def post_signed(client: Any, url: str, secret: str, body: bytes) -> None:
    """POST a signed body, retrying 429, 5xx and unreachable a bounded number of times."""
    import httpx

    problem = "the webhook did not answer"
    for attempt in range(len(BACKOFF_SECONDS) + 1):
        timestamp = str(int(clock.now().timestamp()))
        headers = {"Content-Type": "application/json", "X-MA-Timestamp": timestamp,
                   "X-MA-Signature": signature(secret, timestamp, body)}
        try:
            answer = client.post(url, content=body, headers=headers)
        except httpx.HTTPError as error:
            problem = f"the webhook could not be reached ({type(error).__name__})"
        else:
            if 200 <= answer.status_code < 300:
                return
            if answer.status_code != 429 and answer.status_code < 500:
                raise ExportRejected(f"the webhook answered {answer.status_code}; a 4xx other than 429 is not retried")
            problem = f"the webhook answered {answer.status_code}"
        if attempt < len(BACKOFF_SECONDS):
            sleep(BACKOFF_SECONDS[attempt])
    raise ExportRetry(problem + f" after {len(BACKOFF_SECONDS) + 1} attempts")


def _run_webhook(export: repo.ExportRecord, progress: Progress) -> str:
    import httpx

    started = time.monotonic()
    url, secret = _webhook_target(export)
    size = int(export.spec.get("batch_size") or 500)
    pages = 0
    with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS, follow_redirects=False) as client:
        for sk, start, page, last in _pages(export):
            for low in range(start, len(page), size):
                chunk = page[low:low + size]
                body = json.dumps({"export_id": export.export_id, "audience_id": export.audience_id,
                                   "batch": progress.batches + 1, "users": _users(export, chunk)},
                                  ensure_ascii=False, separators=(",", ":"), default=_json_default).encode("utf-8")
                post_signed(client, url, secret, body)
                progress.cursor, progress.offset = sk, low + len(chunk)
                progress.rows += len(chunk)
                progress.batches += 1
                _checkpoint(export, progress)
            pages += 1
            if _enough(pages, started) and not last:
                return "continued"
    return "done"


# --- kafka ---

def _kafka_config(export: repo.ExportRecord) -> tuple[dict[str, Any], str]:
    spec = export.spec
    config: dict[str, Any] = {}
    topic = spec.get("topic")
    servers = spec.get("bootstrap_servers")
    if "provider" in spec:
        provider = repo_providers.get(export.workspace_id, spec["provider"])
        if provider is None or provider.kind != "kafka":
            raise ExportRejected(f"the kafka provider {spec['provider']!r} is gone")
        servers = servers or provider.settings.get("bootstrap_servers")
        topic = topic or provider.settings.get("topic")
        if provider.settings.get("security_protocol"):
            config["security_protocol"] = provider.settings["security_protocol"]
        credentials = repo_providers.read_credentials(export.workspace_id, spec["provider"])
        if credentials.get("sasl_username"):
            config.update(sasl_mechanism="PLAIN", sasl_plain_username=credentials["sasl_username"],
                          sasl_plain_password=credentials.get("sasl_password", ""))
            config.setdefault("security_protocol", "SASL_SSL")
    if not servers or not topic:
        raise ExportRejected("the kafka export has no bootstrap servers or no topic")
    config["bootstrap_servers"] = [s.strip() for s in str(servers).split(",") if s.strip()]
    return config, str(topic)


def _run_kafka(export: repo.ExportRecord, progress: Progress) -> str:
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    started = time.monotonic()
    config, topic = _kafka_config(export)
    try:
        producer = KafkaProducer(acks="all", linger_ms=20, request_timeout_ms=int(KAFKA_TIMEOUT_SECONDS * 1000),
                                 **config)
    except KafkaError as error:
        raise ExportRetry(f"the kafka brokers could not be reached ({type(error).__name__})") from None
    try:
        pages = 0
        for sk, start, page, last in _pages(export):
            users = _users(export, page[start:])
            futures = [producer.send(topic, key=u["user_id"].encode("utf-8"),
                                     value=json.dumps({**u, "audience_id": export.audience_id,
                                                       "export_id": export.export_id}, ensure_ascii=False,
                                                      separators=(",", ":"), default=_json_default).encode("utf-8"))
                       for u in users]
            producer.flush(timeout=KAFKA_TIMEOUT_SECONDS)
            for future in futures:
                try:
                    future.get(timeout=KAFKA_TIMEOUT_SECONDS)
                except KafkaError as error:
                    raise ExportRetry(f"kafka did not take a record ({type(error).__name__})") from None
            progress.cursor, progress.offset = sk, len(page)
            progress.rows += len(users)
            progress.batches += 1
            _checkpoint(export, progress)
            pages += 1
            if _enough(pages, started) and not last:
                return "continued"
    finally:
        producer.close(timeout=5)
    return "done"

