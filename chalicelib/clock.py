"""The one source of "now".

Domain functions take ``now`` as a parameter; entry points ask this module. The local
stack moves the clock forward with ``advance`` (``POST /_local/clock``); in Lambda the
offset is always zero.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

_lock = threading.Lock()
_offset = timedelta(0)


def now() -> datetime:
    return datetime.now(timezone.utc) + _offset


def advance(seconds: float) -> datetime:
    """Move the clock forward (local stack and tests only)."""
    global _offset
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    with _lock:
        _offset += timedelta(seconds=seconds)
    return now()


def offset_seconds() -> float:
    return _offset.total_seconds()


def set_offset(seconds: float) -> None:
    global _offset
    with _lock:
        _offset = timedelta(seconds=seconds)


def iso(moment: datetime) -> str:
    """UTC, millisecond precision, fixed width, so the strings sort as the times do."""
    utc = moment.astimezone(timezone.utc)
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


class BadTime(ValueError):
    """A time a client sent that we cannot use; the message is in words for the client."""


def parse_iso(value: str) -> datetime:
    """An ISO-8601 time with an offset, as UTC. Raises BadTime (a ValueError), never
    OverflowError: ``0001-01-01T00:00:00+14:00`` is before year 1 in UTC."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError, AttributeError):
        raise BadTime("must be an ISO-8601 time with an offset, e.g. 2026-11-22T09:00:00+08:00") from None
    if moment.tzinfo is None:
        raise BadTime("time needs an offset, e.g. 2026-11-22T09:00:00+08:00")
    try:
        return moment.astimezone(timezone.utc)
    except OverflowError:
        raise BadTime("is out of range once converted to UTC (years 1-9999)") from None
