"""Tasks' jobs on the audience-jobs queue (bulk work): one fan-out page each."""
from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib import aws
from chalicelib.config import settings


class TaskFanout(BaseModel):
    """Send the page of a task's users after ``after`` ("" for the first page)."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["task_fanout"] = "task_fanout"
    workspace_id: str = Field(min_length=1)
    task_id: str = Field(min_length=1)
    after: str = Field(max_length=255)


def enqueue_fanout(workspace_id: str, task_id: str, after: str) -> None:
    job = TaskFanout(workspace_id=workspace_id, task_id=task_id, after=after)
    aws.sqs().send_message(QueueUrl=aws.queue_url(settings.queue("audience-jobs")),
                           MessageBody=json.dumps(job.model_dump()))
