"""The audience-jobs queue: build segments of audience snapshots.

A record that fails for a passing reason is reported in ``batchItemFailures`` and retried
alone; on its last receive (the queue's maxReceiveCount) a failure marks the snapshot
failed with the reason before SQS dead-letters the job, so an audience never stays
``building`` for good (a refresh builds it again). A record that can never succeed (not JSON, an unknown type, a
malformed message) is dead-lettered at once with its reason. Every job is idempotent: a
redelivered segment is counted and written once (audiences/builder.py).
"""
from __future__ import annotations

from typing import Annotated, Any, Union

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from pydantic import Field, TypeAdapter

from chalicelib import clock, logs
from chalicelib.audiences import builder, exports, task_result, upload_build
from chalicelib.audiences.messages import BuildSegment, RunExport, TaskResultBuild, UploadBuild
from chalicelib.handlers.messages import parse_or_dead_letter
from chalicelib.tasks import service as task_service
from chalicelib.tasks import exports as task_exports
from chalicelib.tasks.exports import TaskExportJob
from chalicelib.tasks.jobs import TaskFanout

# The queue's messages: the audiences' jobs and the tasks' fan-out pages (bulk work both).
Job = Annotated[Union[BuildSegment, UploadBuild, RunExport, TaskResultBuild, TaskFanout, TaskExportJob],
                Field(discriminator="type")]
JOB: TypeAdapter[BuildSegment | UploadBuild | RunExport | TaskResultBuild | TaskFanout | TaskExportJob] = \
    TypeAdapter(Job)

LAST_RECEIVE = 3  # the audience-jobs queue's maxReceiveCount (infra/resources.yaml)


def handle(event: dict[str, Any], context: Any = None) -> dict[str, Any]:
    """Process an SQS batch; returns the partial batch failure report."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=process_record, processor=processor, context=context))


def process_record(record: SQSRecord) -> None:
    logs.clear()
    logs.bind(message_id=record.message_id)
    job = parse_or_dead_letter(JOB, record.body, "audience-jobs", what="job")
    if job is None:
        return
    if isinstance(job, TaskExportJob):
        logs.bind(workspace_id=job.workspace_id, task_id=job.task_id)
        logs.logger.info("task export", extra={"outcome": task_exports.run(job, clock.now())})
        return
    if isinstance(job, TaskFanout):
        logs.bind(workspace_id=job.workspace_id, task_id=job.task_id)
        outcome = task_service.fan_out(job.workspace_id, job.task_id, job.after, clock.now())
        logs.logger.info("task fan-out page", extra={"outcome": outcome})
        return
    if isinstance(job, UploadBuild):
        _upload(record, job)
        return
    if isinstance(job, TaskResultBuild):
        logs.bind(workspace_id=job.workspace_id, audience_id=job.audience_id, snapshot_id=job.snapshot_id)
        logs.logger.info("task result build", extra={"outcome": task_result.run(job, clock.now())})
        return
    if isinstance(job, RunExport):
        run_export(job, int(record.attributes.approximate_receive_count))
        return
    logs.bind(workspace_id=job.workspace_id, audience_id=job.audience_id, snapshot_id=job.snapshot_id,
              segment=job.segment)
    try:
        outcome = builder.run_segment(job, clock.now())
    except Exception as error:  # noqa: BLE001 - re-raised: SQS retries it, and dead-letters it after the last
        if int(record.attributes.approximate_receive_count) >= LAST_RECEIVE:
            logs.logger.exception("audience segment failed for good")
            builder.fail_build(job, f"segment {job.segment} failed {LAST_RECEIVE} times: {type(error).__name__}",
                               clock.now())
        raise
    logs.logger.info("audience segment", extra={"outcome": outcome})


def _upload(record: SQSRecord, job: UploadBuild) -> None:
    logs.bind(workspace_id=job.workspace_id, audience_id=job.audience_id, snapshot_id=job.snapshot_id)
    try:
        outcome = upload_build.run(job, clock.now())
    except Exception as error:  # noqa: BLE001 - re-raised: SQS retries it, and dead-letters it after the last
        if int(record.attributes.approximate_receive_count) >= LAST_RECEIVE:
            logs.logger.exception("audience upload build failed for good")
            upload_build.fail(job, f"reading the file failed {LAST_RECEIVE} times: {type(error).__name__}", clock.now())
        raise
    logs.logger.info("audience upload build", extra={"outcome": outcome})


def run_export(job: RunExport, receive_count: int) -> None:
    """Deliver an export from its checkpoint; a failure is retried by SQS (the checkpoint
    keeps what was acknowledged) and fails the export on the last receive."""
    logs.bind(workspace_id=job.workspace_id, audience_id=job.audience_id, export_id=job.export_id)
    try:
        outcome = exports.run(job, clock.now())
    except Exception as error:  # noqa: BLE001 - re-raised: SQS redelivers it, and dead-letters it after the last
        if receive_count >= LAST_RECEIVE:
            logs.logger.exception("audience export failed for good")
            reason = str(error) if isinstance(error, exports.ExportRetry) else type(error).__name__
            exports.fail_for_good(job, f"failed {LAST_RECEIVE} times: {reason}", clock.now())
        raise
    logs.logger.info("audience export run", extra={"outcome": outcome})
