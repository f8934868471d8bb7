"""Tasks' storage (the campaigns table), as plain ``tasks.Task`` in and out.

Every status change is conditioned on the version read, so a schedule firing twice, a
cancel racing a start, or a redelivered fan-out page cannot both win. Fan-out progress
is a cursor (the last user id sent to the queue) advanced conditionally with the count
it adds, so a page counts once however often it is delivered.
"""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import dynamo
from chalicelib.models.base import plain
from chalicelib.models.campaigns import TASK_PREFIX, WAITING_PREFIX, TaskItem, WaitingItem
from chalicelib.tasks.tasks import Status, Target, Task, Window


def _task(item: TaskItem) -> Task:
    target = plain(item.target)
    window = plain(item.window) if item.window is not None else None
    return Task(
        id=item.sk[len(TASK_PREFIX):], name=item.name, channel=item.channel, provider=item.provider,
        target=Target(kind=target["kind"], audience_id=target.get("audience_id"), snapshot_id=target.get("snapshot_id"),
                      user_ids=tuple(target.get("user_ids") or ()), unmatched=int(target.get("unmatched") or 0)),
        template_id=item.template_id, status=Status(item.status), version=int(item.version),
        created_at=item.created_at, updated_at=item.updated_at, campaign_id=item.campaign_id, send_at=item.send_at,
        window=Window(window["start"], window["end"]) if window else None,
        approval_grace_minutes=int(item.approval_grace_minutes or 60), reason=item.reason,
        started_at=item.started_at, finished_at=item.finished_at, targeted=int(item.targeted or 0),
        fanout_after=item.fanout_after, fanout_done=bool(item.fanout_done), transactional=bool(item.transactional))


def _item(workspace_id: str, t: Task) -> TaskItem:
    target: dict[str, Any] = {"kind": t.target.kind}
    if t.target.audience_id:
        target["audience_id"] = t.target.audience_id
    if t.target.snapshot_id:
        target["snapshot_id"] = t.target.snapshot_id
    if t.target.user_ids:
        target["user_ids"] = list(t.target.user_ids)
    if t.target.unmatched:
        target["unmatched"] = t.target.unmatched
    return TaskItem(
        pk=workspace_id, sk=TASK_PREFIX + t.id, name=t.name, channel=t.channel, provider=t.provider, target=target,
        template_id=t.template_id, status=t.status.value, version=t.version, created_at=t.created_at,
        updated_at=t.updated_at, campaign_id=t.campaign_id, send_at=t.send_at,
        window={"start": t.window.start, "end": t.window.end} if t.window else None,
        approval_grace_minutes=t.approval_grace_minutes, reason=t.reason, started_at=t.started_at,
        finished_at=t.finished_at, targeted=t.targeted, fanout_after=t.fanout_after, fanout_done=t.fanout_done,
        transactional=t.transactional)


def get(workspace_id: str, task_id: str) -> Task | None:
    try:
        return _task(TaskItem.get(workspace_id, TASK_PREFIX + task_id, consistent_read=True))
    except DoesNotExist:
        return None


def create(workspace_id: str, task: Task, *, waits_for_template: bool) -> bool:
    """Store a new task (and its waiting marker when it waits for a template approval)."""
    try:
        with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
            tx.save(_item(workspace_id, task), condition=TaskItem.pk.does_not_exist())
            if waits_for_template:
                tx.save(WaitingItem(pk=workspace_id, sk=f"{WAITING_PREFIX}{task.template_id}#{task.id}",
                                    task_id=task.id))
    except dynamo.LostRace:
        return False
    return True


def replace_if(workspace_id: str, task: Task, read: Task) -> bool:
    """Store a status change if the task is still at the version read."""
    return dynamo.save_if(_item(workspace_id, task), TaskItem.version == read.version)


def advance_fanout(workspace_id: str, task_id: str, after: str, last: str, added: int, done: bool) -> bool:
    """Move the fan-out cursor from ``after`` to ``last``, adding ``added`` targeted users,
    while the task is sending; False when this page was already counted (or it stopped)."""
    try:
        with dynamo.lost_race_on_conflict():
            TaskItem(workspace_id, TASK_PREFIX + task_id).update(
                actions=[TaskItem.fanout_after.set(last), TaskItem.targeted.add(added),
                         TaskItem.fanout_done.set(done)],
                condition=(TaskItem.fanout_after == after) & (TaskItem.status == Status.sending.value))
    except dynamo.LostRace:
        return False
    return True


def waiting_for(workspace_id: str, template_id: str) -> list[str]:
    """Ids of the instant tasks waiting for this template's approval."""
    found = WaitingItem.query(workspace_id, WaitingItem.sk.startswith(f"{WAITING_PREFIX}{template_id}#"),
                              consistent_read=True)
    return [w.task_id for w in found]


def stop_waiting(workspace_id: str, template_id: str, task_id: str) -> None:
    WaitingItem(workspace_id, f"{WAITING_PREFIX}{template_id}#{task_id}").delete()


def page(workspace_id: str, *, status: str | None, campaign_id: str | None, limit: int,
         start: dict[str, Any] | None) -> tuple[list[Task], dict[str, Any] | None]:
    condition = None
    if status:
        condition = TaskItem.status == status
    if campaign_id:
        by_campaign = TaskItem.campaign_id == campaign_id
        condition = by_campaign if condition is None else condition & by_campaign
    result = TaskItem.query(workspace_id, TaskItem.sk.startswith(TASK_PREFIX), filter_condition=condition,
                            limit=limit, last_evaluated_key=start)
    return [_task(i) for i in result], result.last_evaluated_key


def messages_page(workspace_id: str, task_id: str, *, statuses: tuple[str, ...], limit: int,
                  shard: int, start: dict[str, Any] | None) -> tuple[list[Any], tuple[int, dict[str, Any] | None] | None]:
    """Up to ``limit`` of a task's message records (MessageItem), shard by shard, filtered
    by status; and where to continue ((shard, start key), or None at the end). A message
    still ``claimed`` in the table may be sent by its provider call's outcomes item
    (``repo_messages.settle_items``): asked for "sent", the claimed ones are read too and
    kept when settled as sent."""
    from chalicelib.models.messages import MessageItem
    from chalicelib.sending.messages import CLAIMED, task_partitions
    from chalicelib.sending.repo_messages import settle_items

    partitions = task_partitions(workspace_id, task_id)
    out: list[Any] = []
    stored_as = {*statuses, *((CLAIMED,) if "sent" in statuses else ())}
    condition = MessageItem.status.is_in(*sorted(stored_as)) if statuses else None
    while shard < len(partitions):
        result = MessageItem.query(partitions[shard], filter_condition=condition, limit=limit - len(out),
                                   last_evaluated_key=start)
        out.extend(item for item in settle_items(list(result)) if not statuses or item.status in statuses)
        start = result.last_evaluated_key
        if start is None:
            shard, start = shard + 1, None
        if len(out) >= limit:
            return out, ((shard, start) if shard < len(partitions) else None)
    return out, None
