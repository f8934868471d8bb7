"""Tasks through the API and the jobs that run them.

create → (maybe a new template from the task's own or edited content, pending review) →
start when due and approved (``try_start``: the snapshot pinned, status ``sending``,
the first fan-out page queued) → ``fan_out`` one page at a time (each page's messages on
the sends queue, then the cursor advanced with its count, conditionally) → ``check``
reconciles the counters and finishes the task once nobody is pending.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any, Callable, Literal
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator, model_validator

from chalicelib import clock, dynamo, ids, logs, pagination
from chalicelib.audiences import usage
from chalicelib.campaigns import repo as campaigns_repo
from chalicelib.errors import Invalid, NotFound, Unavailable
from chalicelib.profiles import repo as profiles_repo
from chalicelib.scheduling import dispatch
from chalicelib.scheduling.repo import Due
from chalicelib.schemas import JsonBool, JsonInt, PageQuery, Request, Response, StorableMap, rule
from chalicelib.sending import content as content_spec
from chalicelib.sending import repo_providers, repo_templates, template_service
from chalicelib.sending.queue import ProviderRef, Recipient, SendMessage, enqueue
from chalicelib.tasks import repo
from chalicelib.tasks import tasks as rules
from chalicelib.sending.messages import STATUSES as MESSAGE_STATUSES
from chalicelib.tasks.tasks import Status, Target, Task, Window

CLOCK = rule(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a local time HH:MM, 00:00 to 23:59")
USER_ID = Field(min_length=1, max_length=128)


class SendWindow(Request):
    start: str = Field(pattern=CLOCK)
    end: str = Field(pattern=CLOCK)

    @model_validator(mode="after")
    def _not_empty(self) -> "SendWindow":
        if self.start == self.end:
            raise ValueError("start and end must differ (a window across midnight is fine: 20:00 to 02:00)")
        return self


class TaskBody(Request):
    name: str = Field(min_length=1, max_length=128, pattern=content_spec.NAME)
    channel: Literal["sms", "email", "push", "wechat", "wechat_template", "whatsapp", "viber", "webhook"]
    provider: str = Field(min_length=1, max_length=64)
    audience_id: str | None = Field(None, min_length=1, max_length=64)
    user_ids: list[str] | None = Field(None, min_length=1, max_length=rules.MAX_INLINE_IDS)
    phones: list[str] | None = Field(None, min_length=1, max_length=rules.MAX_INLINE_IDS)
    emails: list[str] | None = Field(None, min_length=1, max_length=rules.MAX_INLINE_IDS)
    template_id: str | None = Field(None, min_length=1, max_length=64)
    content: StorableMap | None = Field(None, description="the message's own content (the channel's template fields); "
                                                          "saved as a new template named after the task, pending review")
    template_edits: StorableMap | None = Field(None, description="fields replacing the named template's; saved as a "
                                                                 "new template named after the task, pending review")
    send_at: str | None = Field(None, max_length=40, description="ISO-8601 with an offset; instant when absent")
    send_window: SendWindow | None = None
    approval_grace_minutes: JsonInt = Field(60, ge=0, le=10_080)
    campaign_id: str | None = Field(None, min_length=1, max_length=64)
    transactional: JsonBool = False

    @field_validator("user_ids", "phones", "emails")
    @classmethod
    def _ids(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            for i, one in enumerate(value):
                if not isinstance(one, str) or not 1 <= len(one) <= 128 or re.search(r"[\x00-\x1f]", one):
                    raise ValueError(f"item {i} must be 1-128 characters without control characters")
        return value

    @field_validator("send_at")
    @classmethod
    def _send_at(cls, value: str | None) -> str | None:
        return clock.iso(clock.parse_iso(value)) if value is not None else None

    @model_validator(mode="after")
    def _one_target_one_content(self) -> "TaskBody":
        targets = [n for n in ("audience_id", "user_ids", "phones", "emails") if getattr(self, n) is not None]
        if len(targets) != 1:
            raise ValueError("give exactly one of audience_id, user_ids, phones or emails")
        if (self.template_id is None) == (self.content is None):
            raise ValueError("give template_id (optionally with template_edits) or content, not both")
        if self.template_edits is not None and self.template_id is None:
            raise ValueError("template_edits change the template named by template_id")
        return self


class TaskOut(Response):
    id: str
    name: str
    channel: str
    provider: str
    status: Status
    reason: str | None = None
    template_id: str
    audience_id: str | None = None
    snapshot_id: str | None = None
    user_count: int | None = Field(None, description="ids given (id-list tasks)")
    unmatched: int = Field(0, description="phones or emails given that match no profile")
    campaign_id: str | None = None
    send_at: str | None = None
    send_window: dict[str, str] | None = None
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    reconciliation: dict[str, Any] = Field(description="targeted = sent + dropped + failed + pending")
    counts: dict[str, float] = Field(default_factory=dict, description="messages per status, and cost")


class TasksQuery(PageQuery):
    status: Status | None = None
    campaign_id: str | None = Field(None, min_length=1, max_length=64)


def read_counters(workspace_id: str, task_id: str) -> dict[str, float]:
    """The task's message counters (chalicelib/counters: sharded, summed on read)."""
    from chalicelib.counters import repo as counters

    return counters.read(workspace_id, f"task#{task_id}")


def to_api(task: Task, counters: dict[str, float] | None = None) -> TaskOut:
    counts = counters if counters is not None else {}
    return TaskOut(
        id=task.id, name=task.name, channel=task.channel, provider=task.provider, status=task.status,
        reason=task.reason, template_id=task.template_id, audience_id=task.target.audience_id,
        snapshot_id=task.target.snapshot_id,
        user_count=len(task.target.user_ids) if task.target.kind == "user_ids" else None,
        unmatched=task.target.unmatched, campaign_id=task.campaign_id, send_at=task.send_at,
        send_window={"start": task.window.start, "end": task.window.end} if task.window else None,
        created_at=task.created_at, started_at=task.started_at, finished_at=task.finished_at,
        reconciliation=rules.reconcile(task.targeted, counts).as_dict(), counts=counts)


# ----------------------------------------------------------------------- create


def _target(workspace_id: str, body: TaskBody) -> Target:
    if body.audience_id is not None:
        from chalicelib.audiences import repo as audiences_repo

        audience = audiences_repo.get_audience(workspace_id, body.audience_id)
        if audience is None:
            raise Invalid("audience_id", "no audience with this id in this workspace")
        return Target("audience", audience_id=body.audience_id)
    if body.user_ids is not None:
        return Target("user_ids", user_ids=tuple(sorted(set(body.user_ids))))
    found: set[str] = set()
    unmatched = 0
    for address in body.phones or body.emails or []:
        matches = profiles_repo.profiles_with_address(
            workspace_id, **({"phone": address} if body.phones else {"email": address.lower()}), limit=10)
        found.update(p.user_id for p in matches)
        unmatched += not matches
    return Target("user_ids", user_ids=tuple(sorted(found)), unmatched=unmatched)


def _template(workspace_id: str, body: TaskBody, now: datetime) -> tuple[str, str]:
    """(template id, its status): the named one, or a new one made from the task's own or
    edited content, named after the task, pending review."""
    if body.template_id is not None:
        template = repo_templates.get(workspace_id, body.template_id)
        if template is None:
            raise Invalid("template_id", "no template with this id in this workspace")
        if template.spec.channel != body.channel:
            raise Invalid("template_id", f"the template is for {template.spec.channel}, not {body.channel}")
        if template.status.value == "rejected" and body.template_edits is None:
            raise Invalid("template_id", "the template was rejected in review; edit it or name another")
        if body.template_edits is None:
            return template.id, template.status.value
        spec = {**template.spec.model_dump(mode="json", exclude_none=True), **body.template_edits}
    else:
        spec = dict(body.content or {})
    spec.update(channel=body.channel, name=body.name)
    try:
        parsed = content_spec.parse(spec)
    except Invalid as bad:
        where = "template_edits" if body.template_id else "content"
        raise Invalid(errors=[type(e)(f"{where}.{e.field}" if e.field else where, e.message) for e in bad.errors]) \
            from None
    made = template_service.create(workspace_id, parsed, now)
    return made.id, made.status.value


def create(workspace_id: str, body: TaskBody, now: datetime) -> TaskOut:
    provider = repo_providers.get(workspace_id, body.provider)
    if provider is None:
        raise Invalid("provider", "no provider account with this name in this workspace")
    if provider.channel != body.channel:
        raise Invalid("provider", f"the provider sends {provider.channel}, not {body.channel}")
    if body.campaign_id is not None and campaigns_repo.get(workspace_id, body.campaign_id) is None:
        raise Invalid("campaign_id", "no campaign with this id in this workspace")
    if body.send_at is not None and clock.parse_iso(body.send_at) <= now:
        raise Invalid("send_at", "must be in the future (leave it out to send now)")
    target = _target(workspace_id, body)
    template_id, template_status = _template(workspace_id, body, now)
    task = Task(id=ids.ordered_id("task", now), name=body.name, channel=body.channel, provider=body.provider,
                target=target, template_id=template_id, status=Status.scheduled, version=1,
                created_at=clock.iso(now), updated_at=clock.iso(now), campaign_id=body.campaign_id,
                send_at=body.send_at, window=Window(body.send_window.start, body.send_window.end)
                if body.send_window else None, approval_grace_minutes=body.approval_grace_minutes,
                transactional=body.transactional)
    waits = body.send_at is None and template_status != "approved"
    if not repo.create(workspace_id, task, waits_for_template=waits):
        raise Unavailable("a task with this id appeared meanwhile; try again")
    if body.send_at is not None:
        schedule_start(workspace_id, task.id, clock.parse_iso(body.send_at), now)
    elif not waits:
        try_start(workspace_id, task.id, now)
    return get(workspace_id, task.id)


def schedule_start(workspace_id: str, task_id: str, at: datetime, now: datetime | None = None) -> None:
    """Ask the one-minute schedule to call ``try_start`` at ``at`` (the due-work index)."""
    dispatch.schedule("task_start", workspace_id, task_id, at, now or clock.now())


@dispatch.on_due("task_start")
def _start_when_due(due: Due, now: datetime) -> None:
    try_start(due.workspace_id, due.item_id, now)


@dispatch.on_due("task_check")
def _check_when_due(due: Due, now: datetime) -> None:
    check(due.workspace_id, due.item_id, now)


# ----------------------------------------------------------------------- read


def _found(workspace_id: str, task_id: str) -> Task:
    task = repo.get(workspace_id, task_id)
    if task is None:
        raise NotFound(f"no task {task_id} in this workspace")
    return task


def get(workspace_id: str, task_id: str) -> TaskOut:
    task = _found(workspace_id, task_id)
    return to_api(task, read_counters(workspace_id, task_id))


def list_page(workspace_id: str, query: TasksQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    found, last = repo.page(workspace_id, status=query.status.value if query.status else None,
                            campaign_id=query.campaign_id, limit=query.limit, start=start)
    return {"items": [to_api(t) for t in found], "next_cursor": pagination.encode(last)}


class MessagesQuery(PageQuery):
    status: str | None = Field(None, pattern=rule(r"^[a-z_]{1,32}(,[a-z_]{1,32}){0,15}$",
                                                  "message statuses separated by commas, e.g. failed,dropped_fatigue"),
                               description="one status or several, comma-separated")


class MessageOut(Response):
    user_id: str
    status: str
    reason: str | None = None
    channel: str
    provider: str
    provider_message_id: str | None = None
    cost: float | None = None
    attempts: int
    created_at: str
    status_at: str
    history: list[dict[str, Any]]


def _cursor(workspace_id: str, task_id: str, where: tuple[int, dict[str, Any] | None] | None) -> str | None:
    if where is None:
        return None
    shard, start = where
    return pagination.encode({"task": {"S": task_id}, "ws": {"S": workspace_id}, "shard": {"S": str(shard)},
                              **({"pk": start["pk"], "sk": start["sk"]} if start else {})})


def messages(workspace_id: str, task_id: str, query: MessagesQuery) -> dict[str, Any]:
    """A task's messages, optionally of some statuses, paged across the task's shards."""
    _found(workspace_id, task_id)
    statuses = tuple(query.status.split(",")) if query.status else ()
    unknown = [s for s in statuses if s not in MESSAGE_STATUSES]
    if unknown:
        raise Invalid("status", f"unknown message status {unknown[0]!r}; one of {', '.join(MESSAGE_STATUSES)}")
    shard, start = 0, None
    if query.cursor:
        key = pagination.decode(query.cursor, attribute="task", expected=task_id)
        assert key is not None
        if key.get("ws", {}).get("S") != workspace_id or not key.get("shard", {}).get("S", "").isdigit():
            raise Invalid("cursor", "not a cursor this API returned for this list")
        shard = int(key["shard"]["S"])
        start = {"pk": key["pk"], "sk": key["sk"]} if "pk" in key and "sk" in key else None
    items, where = repo.messages_page(workspace_id, task_id, statuses=statuses, limit=query.limit, shard=shard,
                                      start=start)
    shaped = [MessageOut(user_id=i.user_id, status=i.status, reason=i.reason, channel=i.channel, provider=i.provider,
                         provider_message_id=i.provider_message_id,
                         cost=float(i.cost) if i.cost is not None else None, attempts=int(i.attempts or 0),
                         created_at=i.created_at, status_at=i.status_at,
                         history=[{"status": h.status, "at": h.at, **({"reason": h.reason} if h.reason else {})}
                                  for h in i.history or []]) for i in items]
    return {"items": shaped, "next_cursor": _cursor(workspace_id, task_id, where)}


# ----------------------------------------------------------------------- lifecycle


def cancel(workspace_id: str, task_id: str, now: datetime) -> TaskOut:
    """Stop what is not yet sent: no further page fans out; messages still queued are dropped."""
    def write(changed: Task, read: Task) -> bool:
        return repo.replace_if(workspace_id, changed, read)

    done = dynamo.read_decide_write(lambda: _found(workspace_id, task_id), lambda t: rules.cancelled(t, now), write,
                                    busy=f"task {task_id}")
    _wind_down(workspace_id, done)
    return to_api(done, read_counters(workspace_id, task_id))


def try_start(workspace_id: str, task_id: str, now: datetime) -> Task | None:
    """Start a scheduled task if it is due and its template approved; fail it if its
    template was rejected or is still unreviewed after the grace. Idempotent: a second
    call (a schedule firing twice) finds it no longer scheduled, or loses the condition."""
    task = repo.get(workspace_id, task_id)
    if task is None:
        return None
    template = repo_templates.get(workspace_id, task.template_id)
    decision = rules.decide_start(task, template.status.value if template else None, now)
    if decision is None:
        return task
    if isinstance(decision, rules.WaitFor):
        if task.send_at is not None:
            schedule_start(workspace_id, task_id, decision.at, now)
        return task
    if isinstance(decision, rules.Fail):
        changed = rules.failed(task, decision.reason, now)
        return changed if repo.replace_if(workspace_id, changed, task) else repo.get(workspace_id, task_id)
    snapshot_id = None
    if task.target.kind == "audience":
        from chalicelib.audiences import repo as audiences_repo

        audience = audiences_repo.get_audience(workspace_id, task.target.audience_id or "")
        if audience is None or not audience.current_snapshot:
            changed = rules.failed(task, f"audience {task.target.audience_id} has no ready snapshot to send to", now)
            return changed if repo.replace_if(workspace_id, changed, task) else repo.get(workspace_id, task_id)
        snapshot_id = audience.current_snapshot
    changed = rules.started(task, snapshot_id, now)
    if task.target.audience_id:  # hold the audience (409 on its delete) while the task sends
        try:
            usage.acquire(workspace_id, task.target.audience_id, "task", task_id, now)
        except NotFound:
            gone = rules.failed(task, f"audience {task.target.audience_id} was deleted", now)
            return gone if repo.replace_if(workspace_id, gone, task) else repo.get(workspace_id, task_id)
    if not repo.replace_if(workspace_id, changed, task):
        return repo.get(workspace_id, task_id)  # someone else started (or cancelled) it
    if changed.campaign_id:
        campaigns_repo.adjust_active(workspace_id, changed.campaign_id, 1)
    logs.logger.info("task started", extra={"task_id": task_id, "snapshot_id": snapshot_id})
    queue_fanout(workspace_id, task_id, "")
    return changed


def on_template_approved(workspace_id: str, template_id: str, now: datetime) -> None:
    """Start the instant tasks that waited for this template's approval."""
    for task_id in repo.waiting_for(workspace_id, template_id):
        try_start(workspace_id, task_id, now)
        repo.stop_waiting(workspace_id, template_id, task_id)


# ----------------------------------------------------------------------- fan-out


def queue_fanout(workspace_id: str, task_id: str, after: str) -> None:
    """Queue the fan-out of the page after user ``after`` (the audience-jobs queue)."""
    from chalicelib.tasks.jobs import enqueue_fanout

    enqueue_fanout(workspace_id, task_id, after)


def fan_out(workspace_id: str, task_id: str, after: str, now: datetime) -> str:
    """Send one page of users to the sends queue, then count it. Redelivered, the page is
    queued again (the sender sends each task+user message once) and counted once."""
    task = repo.get(workspace_id, task_id)
    if task is None or task.status is not Status.sending:
        return "stopped"
    if task.target.kind == "audience":
        from chalicelib.audiences import repo as audiences_repo

        users, _ = audiences_repo.members_after(workspace_id, task.target.snapshot_id or "", after or None,
                                                rules.PAGE_USERS)
    else:
        users = rules.inline_page(task, after)
    not_before = _window_opens(workspace_id, task, now)
    messages = [SendMessage(workspace_id=workspace_id, channel=task.channel, provider=ProviderRef(name=task.provider),
                            task_id=task.id, template_id=task.template_id, transactional=task.transactional,
                            not_before=not_before, recipients=[Recipient(user_id=u) for u in chunk])
                for chunk in rules.send_chunks(users)]
    if messages:
        enqueue(messages, now)
    last_page = len(users) < rules.PAGE_USERS
    last = users[-1] if users else after
    counted = repo.advance_fanout(workspace_id, task_id, after, last, len(users), last_page)
    # Queued again even when already counted: a crash may have come between counting and
    # queueing the next page. A duplicate next page re-queues messages the sender sends
    # once, and counts nothing.
    if not last_page:
        queue_fanout(workspace_id, task_id, last)
    elif counted:
        schedule_check(workspace_id, task_id, now)
    return "counted" if counted else "already counted"


def schedule_check(workspace_id: str, task_id: str, now: datetime) -> None:
    """Reconcile again in a minute (until the task is done)."""
    dispatch.schedule("task_check", workspace_id, task_id, now + timedelta(minutes=1), now)


def _window_opens(workspace_id: str, task: Task, now: datetime) -> datetime | None:
    if task.window is None:
        return None
    from chalicelib.tenancy import repo as tenancy_repo

    workspace = tenancy_repo.get_workspace(workspace_id)
    zone = ZoneInfo(workspace.timezone if workspace else "UTC")
    return rules.window_opens(task.window, now.astimezone(zone))


def check(workspace_id: str, task_id: str, now: datetime) -> Task | None:
    """Finish a sending task once every page is out and nobody is pending."""
    task = repo.get(workspace_id, task_id)
    if task is None:
        return None
    changed = rules.finished(task, rules.reconcile(task.targeted, read_counters(workspace_id, task_id)), now)
    if changed is None:
        if task.status is Status.sending and task.fanout_done:
            schedule_check(workspace_id, task_id, now)
        return task
    if not repo.replace_if(workspace_id, changed, task):
        return repo.get(workspace_id, task_id)
    _wind_down(workspace_id, changed)
    return changed


def _wind_down(workspace_id: str, task: Task) -> None:
    """A started task that ended (done, cancelled): its campaign has one active fewer, and
    it no longer holds its audience. Run once, by the writer that ended it."""
    if not task.started_at:
        return
    if task.campaign_id:
        campaigns_repo.adjust_active(workspace_id, task.campaign_id, -1)
    if task.target.audience_id:
        usage.release(workspace_id, task.target.audience_id, "task", task.id)
