"""Scheduling work and running what is due, by kind.

A kind's handler registers with ``@on_due("kind")`` and is called with the claimed ``Due``
and now; it must be idempotent per (kind, workspace, id, at): a handler that ran but whose
item could not be deleted afterwards (its lease lapsed) may run again. A handler that
raises is retried a minute later, up to ``MAX_ATTEMPTS`` times, then dropped with an error
in the log. ``run_due`` is what the one-minute schedule calls.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

from chalicelib import clock, logs
from chalicelib.scheduling import buckets, repo
from chalicelib.scheduling.repo import Due

Handler = Callable[[Due, datetime], None]
H = TypeVar("H", bound=Handler)
_HANDLERS: dict[str, Handler] = {}
LEASE_SECONDS = 300  # longer than a drain may take (the scheduled function's timeout)
MAX_ATTEMPTS = 5
MAX_DISPATCH_PER_RUN = 500  # the rest waits for the next minute (the cursor stays before it)


def on_due(kind: str) -> Callable[[H], H]:
    """Register the handler of a kind of due work."""
    def register(handler: H) -> H:
        _HANDLERS[kind] = handler
        return handler
    return register


def schedule(kind: str, workspace_id: str, item_id: str, at: datetime, now: datetime) -> str:
    """Make work due at ``at`` (now, if that has passed); returns its bucket (keep it to
    ``unschedule``). Scheduling the same work at the same minute again is one item."""
    bucket = buckets.bucket_for(at, now)
    repo.put(Due(kind, workspace_id, item_id, clock.iso(max(at, now)), bucket), int(now.timestamp()))
    return bucket


def unschedule(kind: str, workspace_id: str, item_id: str, bucket: str) -> None:
    repo.remove(bucket, kind, workspace_id, item_id)


def run_due(now: datetime) -> list[Due]:
    """Claim and run everything due through now's minute, from the cursor on; advance the
    cursor over the buckets finished. Returns what ran."""
    ran: list[Due] = []
    last_done: str | None = None
    epoch = int(now.timestamp())
    for bucket in buckets.to_drain(repo.cursor(), now):
        for due in repo.in_bucket(bucket):
            if len(ran) >= MAX_DISPATCH_PER_RUN:
                if last_done is not None:
                    repo.advance_cursor(last_done)
                return ran
            if due.claim is not None and due.claim >= epoch:
                continue  # another drain runs it now
            claimed = repo.claim(due, epoch, LEASE_SECONDS)
            if claimed is None:
                continue
            _run(claimed, now)
            ran.append(claimed)
        last_done = bucket
    if last_done is not None:
        repo.advance_cursor(last_done)
    return ran


def _run(due: Due, now: datetime) -> None:
    handler = _HANDLERS.get(due.kind)
    extra = {"kind": due.kind, "workspace_id": due.workspace_id, "id": due.item_id, "due_at": due.at}
    if handler is None:
        logs.logger.error("due work of an unknown kind dropped", extra=extra)
        repo.finish(due)
        return
    try:
        handler(due, now)
    except Exception:  # noqa: BLE001 - one item's failure must not stop the others
        logs.logger.exception("due work failed", extra={**extra, "attempts": due.attempts + 1})
        if due.attempts + 1 < MAX_ATTEMPTS:
            retry = now + timedelta(minutes=1)
            repo.put(Due(due.kind, due.workspace_id, due.item_id, due.at, buckets.bucket_of(retry), due.attempts + 1),
                     int(now.timestamp()))
    repo.finish(due)
