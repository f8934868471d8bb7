"""Review, shared by everything an admin must approve before it is sent (templates, SMS
signatures): ``pending_review -> approved | rejected (reason)``.

Pure: the functions take a reviewed record (any frozen dataclass with ``status``,
``version``, ``reason``, ``reviewed_at`` and ``updated_at``) and return the changed copy,
or raise ``Conflict`` when its state does not allow the step. The request shapes of the
approve and reject routes live here too, so every reviewed resource takes the same ones.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, TypeVar

from pydantic import Field

from chalicelib import clock
from chalicelib.errors import Conflict, Invalid
from chalicelib.schemas import JsonInt, Request

MAX_REASON = 1_000


class Status(str, Enum):
    PENDING_REVIEW = "pending_review"
    APPROVED = "approved"
    REJECTED = "rejected"


class Reviewed(Protocol):
    @property
    def status(self) -> Status: ...

    @property
    def version(self) -> int: ...


R = TypeVar("R", bound=Reviewed)


class ApproveQuery(Request):
    version: int | None = Field(None, ge=1, description="the version the reviewer read; 409 stale_version if it moved on")


class Rejection(Request):
    reason: str = Field(min_length=1, max_length=MAX_REASON)
    version: JsonInt | None = Field(None, ge=1)


def ensure_reviewable(item: Reviewed, outcome: str, version: int | None, *, what: str) -> None:
    """Refuse (409) a review of anything but the pending version the reviewer read."""
    if version is not None and version != item.version:
        raise Conflict("stale_version", f"the {what} is at version {item.version}, not {version}; "
                                        "review the current version")
    if item.status is not Status.PENDING_REVIEW:
        raise Conflict("invalid_state", f"only a {what} pending review can be {outcome}; "
                                        f"this one is {item.status.value}")


def approve(item: R, now: datetime, *, version: int | None, what: str) -> R:
    """Approved: from pending review only (``version`` guards against approving an unseen edit)."""
    ensure_reviewable(item, "approved", version, what=what)
    stamp = clock.iso(now)
    record: Any = item  # a dataclass (the Protocol cannot say so)
    changed: R = replace(record, status=Status.APPROVED, reason=None, reviewed_at=stamp, updated_at=stamp)
    return changed


def reject(item: R, reason: str, now: datetime, *, version: int | None, what: str) -> R:
    """Rejected with a reason: from pending review only."""
    if not reason.strip() or len(reason) > MAX_REASON:
        raise Invalid("reason", f"a reason is 1-{MAX_REASON} characters, not only spaces")
    ensure_reviewable(item, "rejected", version, what=what)
    stamp = clock.iso(now)
    record: Any = item
    changed: R = replace(record, status=Status.REJECTED, reason=reason, reviewed_at=stamp, updated_at=stamp)
    return changed


def approved(item: Reviewed) -> bool:
    """Only an approved item is ever sent."""
    return item.status is Status.APPROVED
