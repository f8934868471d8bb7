"""Audiences from a task's results: the users whose message of that task ended in one of
the given statuses ("everyone whose SMS failed", to follow up by email).

Source: ``{"type": "task_result", "task_id", "statuses": [...]}``. The build reads the
task's 16 message partitions (one Query each, keys and user id only, filtered by status)
in a job on the audience-jobs queue and ends like every build: the sorted user ids are
the snapshot's one segment run, counted once, then sealed into member pages. A refresh
reads the task again, so an audience of "not yet delivered" shrinks as receipts arrive.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from chalicelib import aws, ids, logs
from chalicelib.audiences import builder, repo
from chalicelib.audiences.messages import TaskResultBuild
from chalicelib.clock import iso
from chalicelib.config import settings
from chalicelib.errors import Invalid
from chalicelib.schemas import Request
from chalicelib.sending.messages import STATUSES, task_partitions

RUN_SEGMENT = 0
Status = Literal[STATUSES]  # type: ignore[valid-type]


class TaskResultSource(Request):
    type: Literal["task_result"]
    task_id: str = Field(min_length=1, max_length=64)
    statuses: list[Status] = Field(min_length=1, max_length=len(STATUSES),
                                   description="message statuses, e.g. [\"failed\", \"dropped_fatigue\"]")


def check_task(workspace_id: str, source: dict[str, Any]) -> None:
    """The task must exist in the workspace (400 naming source.task_id)."""
    from chalicelib.tasks import repo as tasks_repo

    if tasks_repo.get(workspace_id, str(source["task_id"])) is None:
        raise Invalid("source.task_id", "no task with this id in this workspace")


def start(audience: repo.AudienceRecord, now: datetime) -> repo.SnapshotRecord:
    """A one-segment snapshot, read by a ``task_result_build`` job."""
    snapshot = repo.create_snapshot(audience, ids.ordered_id("snap_", now), 1, iso(now))
    job = TaskResultBuild(workspace_id=audience.workspace_id, audience_id=audience.audience_id,
                          snapshot_id=snapshot.snapshot_id)
    aws.sqs().send_message(QueueUrl=aws.queue_url(settings.queue("audience-jobs")), MessageBody=job.model_dump_json())
    return snapshot


def users_with(workspace_id: str, task_id: str, statuses: list[str]) -> list[str]:
    """The task's users whose message is in one of ``statuses``, sorted (16 Queries, paged).
    Asked for "sent", messages still ``claimed`` are read too, and kept when their provider
    call's outcomes item lists them (``repo_messages.accepted_in``)."""
    from chalicelib.sending.messages import CLAIMED
    from chalicelib.sending.repo_messages import accepted_in

    table = settings.table("messages")
    names = {"#s": "status"}
    stored_as = sorted({*statuses, *((CLAIMED,) if "sent" in statuses else ())})
    values = {f":s{i}": {"S": s} for i, s in enumerate(stored_as)}
    found: set[str] = set()
    claimed: dict[str, tuple[str, str, str, str]] = {}  # message key -> (user, token, key, idempotency key)
    for pk in task_partitions(workspace_id, task_id):
        start: dict[str, Any] | None = None
        while True:
            answer = aws.dynamodb().query(
                TableName=table, KeyConditionExpression="pk = :pk",
                ProjectionExpression="pk, sk, user_id, #s, outcomes_batch, idempotency_key",
                FilterExpression=f"#s IN ({', '.join(values)})", ExpressionAttributeNames=names,
                ExpressionAttributeValues={":pk": {"S": pk}, **values},
                **({"ExclusiveStartKey": start} if start else {}))
            for item in answer.get("Items", []):
                if item["status"]["S"] != CLAIMED:
                    found.add(item["user_id"]["S"])
                elif "outcomes_batch" in item:
                    key = f"{item['pk']['S']}|{item['sk']['S']}"
                    claimed[key] = (item["user_id"]["S"], item["outcomes_batch"]["S"], key, item["idempotency_key"]["S"])
            start = answer.get("LastEvaluatedKey")
            if not start:
                break
    if claimed:
        accepted = accepted_in({(workspace_id, token, key, idem) for _, token, key, idem in claimed.values()})
        found |= {claimed[key][0] for key in accepted}
    return sorted(found)


def run(job: TaskResultBuild, now: datetime) -> str:
    """Read the task's results into the snapshot, once."""
    snapshot = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
    if snapshot is None or snapshot.status != "building":
        return "not_building"
    if RUN_SEGMENT in snapshot.done_segments:
        if snapshot.complete:
            builder.seal(snapshot, now)
        return "already_done"
    source = snapshot.source
    matched = users_with(job.workspace_id, str(source["task_id"]), [str(s) for s in source["statuses"]])
    run_ref = repo.write_run(snapshot, RUN_SEGMENT, ids.new_id("a"), matched,
                             int(now.timestamp()) + builder.RUN_TTL_SECONDS)
    counted = repo.mark_segment_done(snapshot, RUN_SEGMENT, run_ref, len(matched))
    logs.logger.info("task result read", extra={"snapshot_id": snapshot.snapshot_id, "matched": len(matched)})
    if counted is None:
        again = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
        if again is not None and again.status == "building" and again.complete:
            builder.seal(again, now)
        return "duplicate"
    builder.seal(counted, now)
    return "sealed"
