"""The analytics reads, returning plain data: counters by owner (``counters.repo``), whether
a task exists, a task's sent messages (conversions) and a user's goal events.

* a task exists:     GetItem campaigns (ws, ``task#<id>``), keys projected;
* a task's messages: 16 Queries (one per message partition), projected to user, status,
                     history and counted;
* tasks of campaigns: Query campaigns (ws, ``begins_with(sk, "task#")``), projected to sk
                     and campaign_id (the task items' attribute naming their campaign);
* goal events:       one Query with Select=COUNT per (user, window) (``events.repo.count_events``).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from chalicelib import aws
from chalicelib.config import settings
from chalicelib.events import repo as events_repo
from chalicelib.sending.messages import task_partitions

T = TypeVar("T")
R = TypeVar("R")
TASK_PREFIX = "task#"
READ_CONCURRENCY = 16


def task_exists(workspace_id: str, task_id: str) -> bool:
    found = aws.dynamodb().get_item(TableName=settings.table("campaigns"),
                                    Key={"pk": {"S": workspace_id}, "sk": {"S": TASK_PREFIX + task_id}},
                                    ProjectionExpression="pk")
    return "Item" in found


def tasks_of(workspace_id: str, campaign_ids: Iterable[str]) -> list[str]:
    """The ids of the tasks attached to any of these campaigns."""
    wanted = set(campaign_ids)
    pages = aws.dynamodb().get_paginator("query").paginate(
        TableName=settings.table("campaigns"), KeyConditionExpression="pk = :p AND begins_with(sk, :t)",
        ExpressionAttributeValues={":p": {"S": workspace_id}, ":t": {"S": TASK_PREFIX}},
        ProjectionExpression="sk, campaign_id")
    return [item["sk"]["S"][len(TASK_PREFIX):] for page in pages for item in page.get("Items", [])
            if item.get("campaign_id", {}).get("S") in wanted]


@dataclass(frozen=True)
class SentMessage:
    user_id: str
    sent_at: str  # ISO UTC


def sent_messages(workspace_id: str, task_id: str) -> list[SentMessage]:
    """The task's messages that were sent (whatever happened after), with when. A message
    still ``claimed`` in the table counts when its provider call's outcomes item lists it
    (``repo_messages.accepted_in``)."""
    from chalicelib.sending.messages import CLAIMED
    from chalicelib.sending.repo_messages import accepted_in

    def one(pk: str) -> tuple[list[SentMessage], list[tuple[str, str, str, str]]]:
        pages = aws.dynamodb().get_paginator("query").paginate(
            TableName=settings.table("messages"), KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": {"S": pk}},
            ProjectionExpression="pk, sk, user_id, #h, counted, status_at, #s, outcomes_batch, idempotency_key",
            ExpressionAttributeNames={"#h": "history", "#s": "status"})
        out, claimed = [], []
        for page in pages:
            for item in page.get("Items", []):
                if item.get("status", {}).get("S") == CLAIMED and "outcomes_batch" in item and "user_id" in item:
                    claimed.append((item["user_id"]["S"], item["outcomes_batch"]["S"],
                                    f"{item['pk']['S']}|{item['sk']['S']}", item["idempotency_key"]["S"]))
                    continue
                if "sent" not in item.get("counted", {}).get("SS", []):
                    continue
                history = [h["M"] for h in item.get("history", {}).get("L", [])]
                sent = [h["at"]["S"] for h in history if h.get("status", {}).get("S") == "sent"]
                at = sent[0] if sent else item.get("status_at", {}).get("S")
                if at and "user_id" in item:
                    out.append(SentMessage(item["user_id"]["S"], at))
        return out, claimed

    found = parallel(one, task_partitions(workspace_id, task_id))
    claimed = [c for _, part in found for c in part]
    accepted = accepted_in({(workspace_id, token, key, idem) for _, token, key, idem in claimed}) if claimed else {}
    return [m for part, _ in found for m in part] + [
        SentMessage(user, accepted[key].at) for user, _, key, _ in claimed if key in accepted]


def goal_count(workspace_id: str, user_id: str, goal: str, start: str, end: str, now: datetime) -> int:
    return events_repo.count_events(workspace_id, user_id, goal, start, end, now)


def parallel(fn: Callable[[T], R], jobs: Sequence[T]) -> list[R]:
    """``fn`` over the jobs on a few threads (the first alone, so the client exists first)."""
    if len(jobs) <= 1:
        return [fn(job) for job in jobs]
    first = fn(jobs[0])
    with ThreadPoolExecutor(max_workers=min(READ_CONCURRENCY, len(jobs) - 1)) as pool:
        return [first, *pool.map(fn, jobs[1:])]


