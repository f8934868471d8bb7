"""CSV exports of a task's messages, to S3 with a presigned download link.

``POST /v1/tasks/{id}/exports`` stores an export item (``task_export#<task>#<id>`` in the
campaigns table, status ``running``) and queues a ``task_export`` job on the audience-jobs
queue; the job reads the task's 16 message partitions (Query pages), writes the rows to
a spooled temporary file (memory, then /tmp), uploads it to
``exports/<ws>/tasks/<task>/<export>.csv`` (multipart above 8 MB) and marks the export
``done`` with its row count, once. A redelivered job writes the same object again and
finds the export done. Cells that start with ``= + - @`` (formulas) are neutralised.
"""
from __future__ import annotations

import csv
import io
import tempfile
from itertools import islice
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pynamodb.exceptions import DoesNotExist

from chalicelib import aws, dynamo, ids, logs
from chalicelib.audiences.exports import neutralise
from chalicelib.clock import iso
from chalicelib.config import settings
from chalicelib.errors import NotFound
from chalicelib.models.campaigns import TaskExportItem
from chalicelib.models.messages import MessageItem
from chalicelib.schemas import Response
from chalicelib.sending.messages import task_partitions
from chalicelib.sending.repo_messages import settle_items

COLUMNS = ("user_id", "status", "reason", "channel", "provider", "provider_message_id", "cost", "attempts",
           "created_at", "status_at")
DOWNLOAD_SECONDS = 3600
SPOOL_BYTES = 8 * 1024 * 1024
PAGE = 100  # messages settled together (one read of their calls' outcomes items)


class TaskExportJob(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["task_export"] = "task_export"
    workspace_id: str = Field(min_length=1)
    task_id: str = Field(min_length=1)
    export_id: str = Field(min_length=1)


class TaskExport(Response):
    id: str
    task_id: str
    status: str = Field(description="running, done or failed")
    rows: int = 0
    download_url: str | None = Field(None, description="presigned, valid one hour, once done")
    created_at: str
    finished_at: str | None = None


def _sk(task_id: str, export_id: str) -> str:
    return f"task_export#{task_id}#{export_id}"


def _key(workspace_id: str, task_id: str, export_id: str) -> str:
    return f"exports/{workspace_id}/tasks/{task_id}/{export_id}.csv"


def create(workspace_id: str, task_id: str, now: datetime) -> TaskExport:
    export_id = ids.ordered_id("texp", now)
    item = TaskExportItem(pk=workspace_id, sk=_sk(task_id, export_id), task_id=task_id, export_id=export_id,
                          status="running", rows=0, created_at=iso(now))
    dynamo.save_if(item, TaskExportItem.pk.does_not_exist())
    job = TaskExportJob(workspace_id=workspace_id, task_id=task_id, export_id=export_id)
    aws.sqs().send_message(QueueUrl=aws.queue_url(settings.queue("audience-jobs")), MessageBody=job.model_dump_json())
    return to_api(workspace_id, item)


def get(workspace_id: str, task_id: str, export_id: str) -> TaskExport:
    try:
        item = TaskExportItem.get(workspace_id, _sk(task_id, export_id), consistent_read=True)
    except DoesNotExist:
        raise NotFound(f"no export {export_id} of task {task_id}") from None
    return to_api(workspace_id, item)


def to_api(workspace_id: str, item: TaskExportItem) -> TaskExport:
    link = None
    if item.status == "done":
        link = aws.s3().generate_presigned_url("get_object", ExpiresIn=DOWNLOAD_SECONDS, Params={
            "Bucket": settings.bucket("uploads"), "Key": _key(workspace_id, item.task_id, item.export_id),
            "ResponseContentDisposition": f'attachment; filename="{item.task_id}-{item.export_id}.csv"'})
    return TaskExport(id=item.export_id, task_id=item.task_id, status=item.status, rows=int(item.rows or 0),
                      download_url=link, created_at=item.created_at, finished_at=item.finished_at)


def _row(item: Any) -> list[str]:
    values = [item.user_id, item.status, item.reason or "", item.channel, item.provider,
              item.provider_message_id or "", "" if item.cost is None else str(item.cost), str(int(item.attempts or 0)),
              item.created_at, item.status_at]
    return [neutralise(str(v)) for v in values]


def run(job: TaskExportJob, now: datetime) -> str:
    try:
        export = TaskExportItem.get(job.workspace_id, _sk(job.task_id, job.export_id), consistent_read=True)
    except DoesNotExist:
        return "gone"
    if export.status != "running":
        return "already_done"
    rows = 0
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES, mode="w+b") as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(COLUMNS)
        for pk in task_partitions(job.workspace_id, job.task_id):
            found = iter(MessageItem.query(pk))
            while page := list(islice(found, PAGE)):
                for item in settle_items(page):  # claimed, but sent by its call's outcomes item
                    writer.writerow(_row(item))
                    rows += 1
        text.flush()
        text.detach()  # the wrapper lets go of the spool (closing it would close the spool)
        spool.seek(0)
        aws.s3().upload_fileobj(spool, settings.bucket("uploads"), _key(job.workspace_id, job.task_id, job.export_id),
                                ExtraArgs={"ContentType": "text/csv; charset=utf-8"})
    done = dynamo.save_if(
        TaskExportItem(pk=job.workspace_id, sk=_sk(job.task_id, job.export_id), task_id=job.task_id,
                       export_id=job.export_id, status="done", rows=rows, created_at=export.created_at,
                       finished_at=iso(now)),
        TaskExportItem.status == "running")
    logs.logger.info("task export written", extra={"task_id": job.task_id, "rows": rows})
    return "done" if done else "already_done"
