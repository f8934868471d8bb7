"""Entry rules, pure: who of a page of would-be entrants may enter now.

Settings ``entry``: ``reentry`` "once" (never again after a first entry), "once_at_a_time"
(not while an earlier entry is still active), "unlimited" (with ``min_interval`` since the
last entry and ``max_entries_per_user``); ``daily_cap`` and ``total_cap`` on entries of
the whole journey. Per-user markers (entries, last entry, active entry) are needed only
when a user can come back: a periodic audience trigger, manual and event triggers. A
once-only audience run enters each member once by construction and writes none.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib import clock
from chalicelib.journeys import expressions

OUTCOMES = ("entered", "refused_reentry", "refused_active", "refused_cap")


@dataclass(frozen=True)
class Marker:
    """What is stored about one user's entries into one journey."""

    entries: int
    last_at: str
    last_run: str
    active: bool
    last_entry: str = ""  # the user's own entry id (an event trigger's event id) of the last entry


@dataclass
class Admission:
    admitted: list[str] = field(default_factory=list)
    refused: dict[str, list[str]] = field(default_factory=dict)  # outcome -> users

    def counts(self) -> dict[str, int]:
        return {"entered": len(self.admitted), **{k: len(v) for k, v in self.refused.items() if v}}


def needs_markers(settings: dict[str, Any], trigger_type: str, periodic: bool) -> bool:
    """Whether users can come back, so each entry must be remembered per user."""
    return trigger_type != "trigger_audience" or periodic


def admit(settings: dict[str, Any], users: list[str], markers: dict[str, Marker], run_id: str,
          now: datetime, entries: dict[str, str] | None = None) -> Admission:
    """Apply the re-entry rule (caps are applied after, on the count of the admitted). A user
    whose last entry was this very event (``entries``: user -> event id; a client's retry
    of the same events, gathered in a later window) is left out and not counted."""
    rules = settings.get("entry") or {}
    reentry = rules.get("reentry", "once")
    interval = expressions.parse_duration(rules.get("min_interval")) if rules.get("min_interval") else None
    cap = rules.get("max_entries_per_user")
    out = Admission()
    for user in users:
        marker = markers.get(user)
        if marker is None or marker.last_run == run_id:  # new, or this very run written before a crash
            out.admitted.append(user)
            continue
        if entries and marker.last_entry and entries.get(user) == marker.last_entry:
            continue  # entered by this event before
        if reentry == "once":
            out.refused.setdefault("refused_reentry", []).append(user)
        elif reentry == "once_at_a_time" and marker.active:
            out.refused.setdefault("refused_active", []).append(user)
        elif reentry == "unlimited" and ((cap and marker.entries >= cap) or (
                interval and clock.parse_iso(marker.last_at) + interval > now)):
            out.refused.setdefault("refused_reentry", []).append(user)
        else:
            out.admitted.append(user)
    return out


def room(settings: dict[str, Any], day_count: int, total_count: int) -> int | None:
    """How many more may enter under the daily and total caps (None: no cap)."""
    rules = settings.get("entry") or {}
    limits = [cap - count for cap, count in ((rules.get("daily_cap"), day_count), (rules.get("total_cap"), total_count))
              if cap]
    return max(0, min(limits)) if limits else None
