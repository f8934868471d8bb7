"""Conversions: users who did a goal event within a window after their message was sent.
Pure: which (user, window) pairs to count, and the result; ``service`` reads and counts.

This slice answers an explicit request by reading the messages (a task's 16 message
partitions) and counting each sent user's goal events in their window (one key-range
Query with Select=COUNT per user and window), refused above ``MAX_MESSAGES`` sent
messages so a request's cost stays bounded (docs/data-model.md "Analytics").
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib import clock

MAX_MESSAGES = 10_000
DEFAULT_WITHIN = "P7D"


@dataclass(frozen=True)
class Window:
    user_id: str
    start: str  # ISO UTC, inclusive
    end: str    # ISO UTC, exclusive


def windows(sent: Iterable[tuple[str, str]], within: timedelta, now: datetime) -> list[Window]:
    """Per user, the windows [sent_at, sent_at + within) of their messages, merged where they
    overlap and cut at ``now``: a user with several messages is counted once."""
    by_user: dict[str, list[datetime]] = defaultdict(list)
    for user_id, sent_at in sent:
        by_user[user_id].append(clock.parse_iso(sent_at))
    out: list[Window] = []
    for user_id, moments in sorted(by_user.items()):
        merged: list[list[datetime]] = []
        for start in sorted(moments):
            end = min(start + within, now)
            if merged and start <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        out += [Window(user_id, clock.iso(s), clock.iso(e)) for s, e in merged if s < e]
    return out


def result(goal: str, within: str, messages: int, users: int, converted: set[str]) -> dict[str, object]:
    return {"goal": goal, "within": within, "messages": messages, "users": users, "converted": len(converted),
            "rate": round(len(converted) / users, 6) if users else None}
