"""Tasks, pure: the status machine, when a task may start, what a fan-out page sends,
and the reconciliation that keeps a task from finishing with anyone unaccounted for.

    scheduled ──start──▶ sending ──reconciled──▶ done
        │                   │
        └──cancel──▶ cancelled ◀──cancel──┘        (failed: the template was rejected,
                                                    or still unreviewed after the grace)

A task starts when it is due (``send_at``, or at once) *and* its template is approved.
An instant task whose template waits for review starts right after the approval; a
scheduled one starts at ``send_at`` once approved, and fails with the reason if the
template was rejected or is still unreviewed at ``send_at`` plus the task's grace.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Literal, Union

from chalicelib import clock
from chalicelib.errors import Conflict

MAX_INLINE_IDS = 1_000     # explicit ids kept on the task; larger lists go through an upload audience
PAGE_USERS = 1_000         # users per fan-out job
RECIPIENTS_PER_SEND = 100  # users per message on the sends queue (its maximum)


class Status(str, Enum):
    scheduled = "scheduled"
    sending = "sending"
    done = "done"
    failed = "failed"
    cancelled = "cancelled"


ACTIVE = frozenset({Status.scheduled, Status.sending})


@dataclass(frozen=True)
class Target:
    """Whom the task sends to: an audience (its snapshot pinned at start) or ids."""

    kind: Literal["audience", "user_ids"]
    audience_id: str | None = None
    snapshot_id: str | None = None
    user_ids: tuple[str, ...] = ()
    unmatched: int = 0        # phones or emails given that match no profile


@dataclass(frozen=True)
class Window:
    """Send only between these local times (HH:MM, workspace time zone)."""

    start: str
    end: str


@dataclass(frozen=True)
class Task:
    id: str
    name: str
    channel: str
    provider: str
    target: Target
    template_id: str
    status: Status
    version: int
    created_at: str
    updated_at: str
    campaign_id: str | None = None
    send_at: str | None = None
    window: Window | None = None
    approval_grace_minutes: int = 60
    reason: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    targeted: int = 0
    fanout_after: str | None = None   # the last user id fanned out ("" before the first page)
    fanout_done: bool = False
    transactional: bool = False


# ----------------------------------------------------------------------- starting


@dataclass(frozen=True)
class Start:
    """Start now: pin the snapshot, move to sending, fan out."""


@dataclass(frozen=True)
class WaitFor:
    """Not yet: look again at ``at`` (the send time, or the end of the approval grace)."""

    at: datetime
    why: str


@dataclass(frozen=True)
class Fail:
    reason: str


StartDecision = Union[Start, WaitFor, Fail]


def decide_start(task: Task, template_status: str | None, now: datetime) -> StartDecision | None:
    """Whether a scheduled task starts now (None: it is not scheduled any more)."""
    if task.status is not Status.scheduled:
        return None
    due = clock.parse_iso(task.send_at) if task.send_at else None
    if due is not None and now < due:
        return WaitFor(due, "its send time has not come")
    if template_status is None:
        return Fail(f"its template {task.template_id} was deleted")
    if template_status == "rejected":
        return Fail(f"its template {task.template_id} was rejected in review")
    if template_status == "approved":
        return Start()
    if due is None:
        return WaitFor(now + timedelta(days=365), "an instant task waits for its template's approval")
    deadline = due + timedelta(minutes=task.approval_grace_minutes)
    if now >= deadline:
        return Fail(f"its template {task.template_id} was still not approved {task.approval_grace_minutes} "
                    "minutes after the send time")
    return WaitFor(deadline, "its template is still in review")


def started(task: Task, snapshot_id: str | None, now: datetime) -> Task:
    target = replace(task.target, snapshot_id=snapshot_id) if task.target.kind == "audience" else task.target
    return replace(task, status=Status.sending, target=target, started_at=clock.iso(now), fanout_after="",
                   version=task.version + 1, updated_at=clock.iso(now))


def failed(task: Task, reason: str, now: datetime) -> Task:
    return replace(task, status=Status.failed, reason=reason, finished_at=clock.iso(now), version=task.version + 1,
                   updated_at=clock.iso(now))


def cancelled(task: Task, now: datetime) -> Task:
    if task.status not in ACTIVE:
        raise Conflict("invalid_state", f"a {task.status.value} task cannot be cancelled; only scheduled or "
                                        "sending ones can")
    return replace(task, status=Status.cancelled, finished_at=clock.iso(now), version=task.version + 1,
                   updated_at=clock.iso(now))


# ----------------------------------------------------------------------- fan-out


def inline_page(task: Task, after: str) -> list[str]:
    """The next page of an id-list task after user ``after`` ("" for the first)."""
    ids = sorted(set(task.target.user_ids))
    return [u for u in ids if u > after][:PAGE_USERS]


def send_chunks(user_ids: list[str]) -> list[list[str]]:
    return [user_ids[i:i + RECIPIENTS_PER_SEND] for i in range(0, len(user_ids), RECIPIENTS_PER_SEND)]


def window_opens(window: Window | None, now_local: datetime) -> datetime | None:
    """When a message may go out, given the send window in local time (None: now)."""
    if window is None:
        return None
    start_h, start_m = map(int, window.start.split(":"))
    end_h, end_m = map(int, window.end.split(":"))
    start = now_local.replace(hour=start_h, minute=start_m, second=0, microsecond=0)
    end = now_local.replace(hour=end_h, minute=end_m, second=0, microsecond=0)
    if start <= end:                      # 09:00-21:00
        if start <= now_local < end:
            return None
        return start if now_local < start else start + timedelta(days=1)
    # across midnight, 20:00-02:00
    if now_local >= start or now_local < end:
        return None
    return start


# ----------------------------------------------------------------------- reconciliation


@dataclass(frozen=True)
class Reconciliation:
    """targeted = sent + dropped + failed + pending, at every moment."""

    targeted: int
    sent: int
    dropped: int
    failed: int

    @property
    def pending(self) -> int:
        return self.targeted - self.sent - self.dropped - self.failed

    def as_dict(self) -> dict[str, Any]:
        return {"targeted": self.targeted, "sent": self.sent, "dropped": self.dropped, "failed": self.failed,
                "pending": self.pending, "balanced": self.pending >= 0}


def reconcile(targeted: int, counters: dict[str, float]) -> Reconciliation:
    """From the task's counters. ``targeted`` there counts messages that reached a final
    status; a message counts once as sent (whatever receipts say later: a bounce after
    the send is still sent), dropped, or failed without being sent; the rest is pending."""
    settled = int(counters.get("targeted", 0))
    sent = int(counters.get("sent", 0))
    dropped = sum(int(v) for k, v in counters.items() if k.startswith("dropped"))
    return Reconciliation(targeted, sent, dropped, settled - sent - dropped)


def finished(task: Task, reconciliation: Reconciliation, now: datetime) -> Task | None:
    """``done`` once every page is fanned out and nobody is pending; else None."""
    if task.status is not Status.sending or not task.fanout_done or reconciliation.pending != 0:
        return None
    return replace(task, status=Status.done, finished_at=clock.iso(now), version=task.version + 1,
                   updated_at=clock.iso(now))
