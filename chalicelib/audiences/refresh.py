"""Periodic refresh of an audience: ``refresh: {every, unit}`` builds a new snapshot at each
due time, started by the one-minute schedule from the due-work index (``scheduling``).

The first refresh is due one period after the audience is created; each run schedules the
next one period after the time it was due (not after it ran, so late runs do not drift),
skipping periods that passed while the schedule was down. Deleting the audience stops it:
the handler finds no audience and schedules nothing.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field

from chalicelib import clock, logs
from chalicelib.audiences import builder, repo
from chalicelib.scheduling.dispatch import on_due, schedule
from chalicelib.scheduling.repo import Due
from chalicelib.schemas import JsonInt, Request

KIND = "audience_refresh"
_UNIT_SECONDS = {"hour": 3600, "day": 86_400, "week": 7 * 86_400}


class Refresh(Request):
    every: JsonInt = Field(ge=1, le=1000, description="how many units between builds")
    unit: Literal["hour", "day", "week"]

    def period(self) -> timedelta:
        return timedelta(seconds=self.every * _UNIT_SECONDS[self.unit])


def next_due(due_at: datetime, refresh: Refresh, now: datetime) -> datetime:
    """The first time after ``now`` that is a whole number of periods after ``due_at`` (pure)."""
    period = refresh.period()
    steps = max(1, int((now - due_at) / period) + 1)
    return due_at + steps * period


def schedule_first(workspace_id: str, audience_id: str, refresh: Refresh, now: datetime) -> None:
    schedule(KIND, workspace_id, audience_id, now + refresh.period(), now)


@on_due(KIND)
def refresh_due(due: Due, now: datetime) -> None:
    """Build a new snapshot of the audience and schedule the next refresh (first, so a
    build that raises and is retried schedules the same next item)."""
    audience = repo.get_audience(due.workspace_id, due.item_id)
    if audience is None or not audience.refresh:
        return  # deleted, or no longer refreshed
    refresh = Refresh.model_validate(audience.refresh)
    schedule(KIND, due.workspace_id, due.item_id, next_due(clock.parse_iso(due.at), refresh, now), now)
    snapshot = builder.build(due.workspace_id, due.item_id, now)
    logs.logger.info("audience refresh started", extra={"audience_id": due.item_id, "snapshot_id": snapshot.snapshot_id})
