"""Chat campaigns, pure: the rules of the reference product, each refused in words.

Statuses: ``pending`` (to be executed), ``in_progress`` (between start and end, not
paused), ``paused`` (suspended), ``ended`` (after the end). ``in_progress`` and ``ended``
follow the clock, so they are derived on read from the stored ``pending``; ``paused`` is
stored. The execution plan runs the journey for the audience every N minutes, hours or
days from the start until the end (``runs_between``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import Enum

from chalicelib import clock
from chalicelib.errors import Conflict, Invalid

MAX_NAME = 60
MAX_DESCRIPTION = 90
UNITS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


class Status(str, Enum):
    pending = "pending"
    in_progress = "in_progress"
    paused = "paused"
    ended = "ended"


@dataclass(frozen=True)
class Plan:
    every: int
    unit: str

    @property
    def period(self) -> timedelta:
        return self.every * UNITS[self.unit]


@dataclass(frozen=True)
class ChatCampaign:
    id: str
    name: str
    description: str | None
    journey_id: str
    audience_id: str
    start_at: str
    end_at: str
    plan: Plan
    stored_status: Status     # pending or paused (in_progress and ended are derived)
    version: int
    created_at: str
    updated_at: str


def status(c: ChatCampaign, now: datetime) -> Status:
    if now >= clock.parse_iso(c.end_at):
        return Status.ended
    if c.stored_status is Status.paused:
        return Status.paused
    if now >= clock.parse_iso(c.start_at):
        return Status.in_progress
    return Status.pending


def check_period(start_at: str, end_at: str, now: datetime) -> None:
    """The start must be later than now and earlier than the end."""
    start, end = clock.parse_iso(start_at), clock.parse_iso(end_at)
    if start <= now:
        raise Invalid("start_at", "must be later than now")
    if end <= start:
        raise Invalid("end_at", "must be later than start_at")


def check_journey(status_of_journey: str | None, published: bool, trigger: str | None) -> None:
    """The journey must exist, be published and start with a manual trigger."""
    if status_of_journey is None:
        raise Invalid("journey_id", "no journey with this id in this workspace")
    if not published or status_of_journey not in ("scheduled", "running"):
        raise Invalid("journey_id", f"the journey must be published (it is {status_of_journey})")
    if trigger != "trigger_manual":
        raise Invalid("journey_id", "the journey must start with a manual trigger (trigger_manual); "
                                    f"it starts with {trigger or 'nothing'}")


def suspended(c: ChatCampaign, now: datetime) -> ChatCampaign:
    current = status(c, now)
    if current is not Status.in_progress:
        raise Conflict("invalid_state", f"only an in_progress chat campaign can be suspended; this one is "
                                        f"{current.value}")
    return replace(c, stored_status=Status.paused, version=c.version + 1, updated_at=clock.iso(now))


def modified(c: ChatCampaign, *, name: str, description: str | None, journey_id: str, audience_id: str,
             start_at: str, end_at: str, plan: Plan, now: datetime) -> ChatCampaign:
    """Only pending or paused ones change; a paused one resumes by the new start time."""
    current = status(c, now)
    if current not in (Status.pending, Status.paused):
        raise Conflict("invalid_state", f"only a pending or paused chat campaign can be modified; this one is "
                                        f"{current.value}")
    if current is Status.paused and start_at == c.start_at:
        raise Invalid("start_at", "resuming a paused chat campaign needs a new start time")
    check_period(start_at, end_at, now)
    return replace(c, name=name, description=description, journey_id=journey_id, audience_id=audience_id,
                   start_at=start_at, end_at=end_at, plan=plan, stored_status=Status.pending,
                   version=c.version + 1, updated_at=clock.iso(now))


def check_delete(c: ChatCampaign, now: datetime) -> None:
    if status(c, now) is Status.in_progress:
        raise Conflict("invalid_state", "an in_progress chat campaign cannot be deleted; suspend it first")


def runs_between(c: ChatCampaign, after: datetime | None, until: datetime) -> list[datetime]:
    """The plan's run times in (after, until]: start, start + period, ... before the end."""
    start, end = clock.parse_iso(c.start_at), clock.parse_iso(c.end_at)
    period = c.plan.period
    out: list[datetime] = []
    moment = start
    if after is not None and after >= start:
        moment = start + ((after - start) // period + 1) * period
    while moment <= until and moment < end:
        out.append(moment)
        moment += period
    return out
