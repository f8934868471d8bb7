"""Messages on the audience-jobs queue, by ``type``.

An unknown or malformed message is not guessed at: the handler dead-letters it with the
reason (handlers/audience_jobs.py).
"""
from __future__ import annotations

from typing import Literal

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


# One kind today; a discriminated union on ``type`` when exports and uploads join it.
QUEUE_MESSAGE: TypeAdapter[BuildSegment] = TypeAdapter(BuildSegment)
