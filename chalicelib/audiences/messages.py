"""Messages on the audience-jobs queue, by ``type``.

An unknown or malformed message is not guessed at: the handler dead-letters it with the
reason (handlers/audience_jobs.py).
"""
from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, Field, TypeAdapter


class BuildSegment(BaseModel):
    """Scan one parallel-scan segment of the profiles table for a snapshot being built."""

    type: Literal["build_segment"] = "build_segment"
    workspace_id: str
    audience_id: str
    snapshot_id: str
    segment: int = Field(ge=0)
    total_segments: int = Field(ge=1, le=1_000_000)
    phase: Literal["values", "members"] = "members"  # "values": the first pass of a two-pass build
    inline: bool = False  # run in the caller (small tables), so the next pass runs inline too


class UploadBuild(BaseModel):
    """Read an uploaded id list into a snapshot (audiences/upload_build.py)."""

    type: Literal["upload_build"] = "upload_build"
    workspace_id: str
    audience_id: str
    snapshot_id: str



class RunExport(BaseModel):
    """Deliver (more of) an export, from its checkpoint (audiences/exports.py)."""

    type: Literal["run_export"] = "run_export"
    workspace_id: str
    audience_id: str
    export_id: str



class TaskResultBuild(BaseModel):
    """Read a task's results into a snapshot (audiences/task_result.py)."""

    type: Literal["task_result_build"] = "task_result_build"
    workspace_id: str
    audience_id: str
    snapshot_id: str


QueueMessage = Annotated[Union[BuildSegment, UploadBuild, RunExport, TaskResultBuild], Field(discriminator="type")]
QUEUE_MESSAGE: TypeAdapter[BuildSegment | UploadBuild | RunExport | TaskResultBuild] = TypeAdapter(QueueMessage)
