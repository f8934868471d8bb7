"""Who reads an audience now: the hook tasks and journeys call so that an audience in use
is not deleted under them.

Whoever starts reading an audience (a task that is sending, a running journey) calls
``acquire(ws, audience_id, "task", task_id)`` and, when it stops for good (finished,
cancelled, failed), ``release(...)`` with the same names. Each is one DynamoDB
transaction: a usage item under the audience (``usage#<kind>#<id>``) and the audience's
``in_use`` count change together, so ``DELETE /v1/audiences/{id}`` (conditioned on
``in_use`` being 0) can never remove an audience between a user's acquire and its
release. Both are idempotent: acquiring twice records one usage, releasing what is not
held does nothing.
"""
from __future__ import annotations

from datetime import datetime

from chalicelib import clock
from chalicelib.audiences import repo
from chalicelib.errors import NotFound

USER_KINDS = ("task", "journey")


def acquire(workspace_id: str, audience_id: str, user_kind: str, user_id: str, now: datetime | None = None) -> bool:
    """Mark the audience as read by ``user_kind``/``user_id``. True when newly recorded,
    False when it already was. NotFound when the audience does not exist (deleted)."""
    if user_kind not in USER_KINDS:
        raise ValueError(f"user_kind is one of {', '.join(USER_KINDS)}")
    try:
        return repo.acquire_usage(workspace_id, audience_id, user_kind, user_id, clock.iso(now or clock.now()))
    except LookupError:
        raise NotFound(f"no audience {audience_id}") from None


def release(workspace_id: str, audience_id: str, user_kind: str, user_id: str) -> bool:
    """The user no longer reads the audience; False when it was not recorded."""
    return repo.release_usage(workspace_id, audience_id, user_kind, user_id)


def users(workspace_id: str, audience_id: str, limit: int = 10) -> list[tuple[str, str]]:
    """Up to ``limit`` (kind, id) reading the audience now (one Query)."""
    return repo.usages(workspace_id, audience_id, limit)


def describe(found: list[tuple[str, str]]) -> str:
    """``task t1, journey j2`` for an error message."""
    return ", ".join(f"{kind} {user_id}" for kind, user_id in found)
