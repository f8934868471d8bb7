"""Fatigue rules through the API: set, read, list and remove a channel's rule (stored by
``repo_fatigue``; what a rule means is ``fatigue``)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from chalicelib.errors import Invalid, NotFound
from chalicelib.schemas import JsonInt, Request, Response, rule
from chalicelib.sending import repo_fatigue as repo
from chalicelib.sending.content import CHANNELS
from chalicelib.sending.fatigue import MAX_CAP, FatigueRule, QuietHours

HHMM = rule(r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "a time of day as HH:MM, 00:00 to 23:59")


class QuietHoursBody(Request):
    start: str = Field(pattern=HHMM, description="local time (workspace time zone) quiet hours start")
    end: str = Field(pattern=HHMM, description="local time they end; earlier than start means across midnight")

    @model_validator(mode="after")
    def _not_empty(self) -> "QuietHoursBody":
        if self.start == self.end:
            raise ValueError("quiet hours need different start and end times")
        return self


class FatigueRulePut(Request):
    max_messages: JsonInt | None = Field(None, ge=1, le=MAX_CAP, description="at most this many per user and period")
    period: Literal["day", "week", "month"] | None = Field(
        None, description="calendar period in the workspace time zone; a week starts on Monday")
    quiet_hours: QuietHoursBody | None = None
    quiet_action: Literal["defer", "drop"] = "defer"

    @model_validator(mode="after")
    def _something(self) -> "FatigueRulePut":
        if (self.max_messages is None) != (self.period is None):
            raise ValueError("max_messages and period go together: give both, or neither for quiet hours only")
        if self.max_messages is None and self.quiet_hours is None:
            raise ValueError("give max_messages and period, quiet_hours, or both")
        return self


class FatigueRuleOut(Response):
    channel: str
    max_messages: int | None
    period: str | None
    quiet_hours: dict[str, str] | None
    quiet_action: str
    updated_at: str


def _out(stored: repo.StoredRule) -> FatigueRuleOut:
    r = stored.rule
    quiet = {"start": f"{r.quiet_hours.start:%H:%M}", "end": f"{r.quiet_hours.end:%H:%M}"} if r.quiet_hours else None
    return FatigueRuleOut(channel=r.channel, max_messages=r.max_messages, period=r.period, quiet_hours=quiet,
                          quiet_action=r.quiet_action, updated_at=stored.updated_at)


def _known(channel: str) -> bool:
    return channel in CHANNELS


def put(workspace_id: str, channel: str, body: FatigueRulePut, now: datetime) -> FatigueRuleOut:
    """Set (replace) the fatigue rule of a channel."""
    if not _known(channel):
        raise Invalid("channel", f"must be one of {', '.join(CHANNELS)}")
    quiet = QuietHours.parse(body.quiet_hours.start, body.quiet_hours.end) if body.quiet_hours else None
    return _out(repo.put_rule(workspace_id, FatigueRule(channel, body.max_messages, body.period, quiet,
                                                        body.quiet_action), now))


def list_all(workspace_id: str) -> dict[str, Any]:
    return {"items": [_out(s) for s in repo.list_rules(workspace_id)], "next_cursor": None}


def get(workspace_id: str, channel: str) -> FatigueRuleOut:
    stored = repo.get_rule(workspace_id, channel) if _known(channel) else None
    if stored is None:
        raise NotFound(f"no fatigue rule for the channel '{channel}'")
    return _out(stored)


def delete(workspace_id: str, channel: str) -> None:
    if not (_known(channel) and repo.delete_rule(workspace_id, channel)):
        raise NotFound(f"no fatigue rule for the channel '{channel}'")
