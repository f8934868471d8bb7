"""A sender step: messages of a cancelled task are dropped, never sent.

One BatchGetItem per batch reads the status of the tasks its messages belong to (journey
messages pass); a message of a cancelled task is recorded ``dropped_cancelled``, so the
task's reconciliation still accounts for it.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib import dynamo
from chalicelib.config import settings
from chalicelib.models.campaigns import TASK_PREFIX
from chalicelib.sending.messages import Decision, Drop, MessageKey, Send

if TYPE_CHECKING:
    from chalicelib.sending.sender import Job

CANCELLED = Drop("dropped_cancelled", "the task was cancelled before this message was sent")


def task_active(jobs: Sequence["Job"], now: datetime) -> Mapping[MessageKey, Decision]:
    tasks = {(j.message.workspace_id, j.message.task_id) for j in jobs if j.message.task_id}
    if not tasks:
        return {}
    table = settings.table("campaigns")
    found = dynamo.batch_get({table: [dynamo.key(ws, TASK_PREFIX + task_id) for ws, task_id in sorted(tasks)]},
                             projection={table: "pk, sk, #s"}, names={"#s": "status"}, consistent=True)[table]
    cancelled = {(raw["pk"]["S"], raw["sk"]["S"][len(TASK_PREFIX):]) for raw in found
                 if raw.get("status", {}).get("S") == "cancelled"}
    return {j.key: CANCELLED if (j.message.workspace_id, j.message.task_id) in cancelled else Send() for j in jobs
            if j.message.task_id}
