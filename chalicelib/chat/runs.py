"""Chat campaigns' execution plan: every N minutes, hours or days from the start until
the end, the journey is run for the audience's then-current snapshot.

Each run is a due item (``chat_run``) in the due-work index; its handler enters the
audience into the journey (``journeys.runtime.enter`` with a run id of the campaign and the
run's time, so a run fired twice enters nobody twice) when the campaign is in progress,
and schedules the next run. A paused or deleted campaign's chain stops; modifying a
pending or paused one (a new start) schedules its first run again.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from chalicelib import clock, logs
from chalicelib.chat import campaigns as rules
from chalicelib.chat import repo
from chalicelib.chat.campaigns import ChatCampaign, Status
from chalicelib.scheduling import dispatch
from chalicelib.scheduling.repo import Due


def schedule_first(workspace_id: str, chat: ChatCampaign, now: datetime) -> None:
    """The first run at the start (the due item's id carries the start, so an old chain is
    recognised and stops)."""
    dispatch.schedule("chat_run", workspace_id, _item_id(chat.id, chat.start_at), clock.parse_iso(chat.start_at), now)


def _item_id(chat_id: str, start_at: str) -> str:
    return f"{chat_id}@{start_at}"


@dispatch.on_due("chat_run")
def run_due(due: Due, now: datetime) -> None:
    chat_id, _, start_at = due.item_id.partition("@")
    chat = repo.get(due.workspace_id, chat_id)
    if chat is None or chat.start_at != start_at:
        return  # deleted, or modified since: its own chain runs
    status = rules.status(chat, now)
    if status is Status.paused or status is Status.ended:
        return
    at = clock.parse_iso(due.at)
    runs = rules.runs_between(chat, at - timedelta(seconds=1), at)
    if runs and status is Status.in_progress:
        _enter(due.workspace_id, chat, runs[-1], now)
    upcoming = rules.runs_between(chat, at, at + chat.plan.period)
    if upcoming:
        dispatch.schedule("chat_run", due.workspace_id, due.item_id, upcoming[0], now)


def _enter(workspace_id: str, chat: ChatCampaign, run_at: datetime, now: datetime) -> None:
    from chalicelib.audiences import repo as audiences_repo
    from chalicelib.journeys import runtime

    audience = audiences_repo.get_audience(workspace_id, chat.audience_id)
    if audience is None or not audience.current_snapshot:
        logs.logger.warning("chat campaign run skipped: the audience has no ready snapshot",
                            extra={"chat_id": chat.id, "audience_id": chat.audience_id})
        return
    try:
        runtime.enter(workspace_id, chat.journey_id, audience.current_snapshot, f"chat#{chat.id}#{clock.iso(run_at)}",
                      now)
    except LookupError as error:
        logs.logger.warning("chat campaign run skipped", extra={"chat_id": chat.id, "reason": str(error)})
