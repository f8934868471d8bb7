"""A published journey's life: start (now, or at start_at through the due-work index),
pause, resume, stop, and the end at end_at.

draft -> scheduled (start in the future) -> running <-> paused -> ended. Each change is one
conditional write on the status read, so two concurrent changes cannot both win; stop and
the end also give back the workspace's live-journey slot in the same transaction.

* start: an audience trigger enters the audience's current snapshot as run ``start``
  (page by page, on the steps queue) and holds the audience (``usage.acquire``) while the
  journey runs; a periodic one schedules its next run (``journey_run``), each run entering
  the then-current snapshot; manual and event triggers enter users as they come.
* pause: the runner holds every cohort it meets (``parked#`` items); resume queues them.
* stop / end: every cohort exits at its next step (counted ``exited``); the audience is
  released.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock, dynamo, logs
from chalicelib.audiences import repo as audiences_repo
from chalicelib.audiences import usage
from chalicelib.errors import Conflict, NotFound
from chalicelib.journeys import entry_rules, event_entry, goals, repo, runtime, runtime_repo, waiters
from chalicelib.models.journeys import LIMITS_SK, JourneyItem, LimitsItem, catalog, journey_pk, JOURNEY_SK
from chalicelib.scheduling import cron, dispatch
from chalicelib.scheduling.repo import Due

START_KIND = "journey_start"
RUN_KIND = "journey_run"
END_KIND = "journey_end"
_RATE_UNITS = {"minute": 60, "hour": 3600, "day": 86400}


def _load(workspace_id: str, journey_id: str) -> repo.JourneyRecord:
    record = repo.get(workspace_id, journey_id)
    if record is None:
        raise NotFound(f"no journey '{journey_id}'")
    return record


def _set_status(record: repo.JourneyRecord, status: str, now: datetime, *, free_slot: bool = False) -> bool:
    """Move the journey from the status read to ``status``; with ``free_slot`` also take one
    off the live-journey counter, in the same transaction. False when the status changed."""
    header = JourneyItem(journey_pk(record.workspace_id, record.journey_id), JOURNEY_SK)
    try:
        with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
            tx.update(header, actions=[JourneyItem.status.set(status), JourneyItem.updated_at.set(clock.iso(now))],
                      condition=JourneyItem.status == record.status)
            if free_slot:
                tx.update(LimitsItem(catalog(record.workspace_id), LIMITS_SK), actions=[LimitsItem.live.add(-1)],
                          condition=LimitsItem.live > 0)
        return True
    except dynamo.LostRace:
        return False


def _trigger(record: repo.JourneyRecord) -> Any:
    if record.published_version is None:
        return None
    found = runtime.version_graph(record.workspace_id, record.journey_id, record.published_version)
    return runtime.trigger_of(found[0]) if found else None


def _judged_events(record: repo.JourneyRecord) -> set[str]:
    found = runtime.version_graph(record.workspace_id, record.journey_id, record.published_version) \
        if record.published_version else None
    return {str(n.config.get("event")) for n in (found[0].nodes if found else ()) if n.type == "event_judgment"}


def listen_for_goal(record: repo.JourneyRecord) -> None:
    """Listen for the journey's goal event (none: stop listening); at the start, for a new
    version and when a live journey's settings change."""
    trigger = _trigger(record)
    by_marker = trigger is None or entry_rules.needs_markers(record.settings, trigger.type,
                                                             bool(trigger.config.get("schedule")))
    goals.register(record.workspace_id, record.journey_id, record.settings, by_marker)


def after_publish(record: repo.JourneyRecord, went_live: bool, now: datetime) -> None:
    """Called once a draft is published: start it now, or at start_at; schedule the end. A
    new version of a live journey registers the events its judgments wait for."""
    if not went_live:
        waiters.register_judgments(record.workspace_id, record.journey_id, _judged_events(record))
        if record.status in ("running", "paused"):
            listen_for_goal(record)
        return
    end_at = record.settings.get("end_at")
    if end_at:
        dispatch.schedule(END_KIND, record.workspace_id, record.journey_id, clock.parse_iso(end_at), now)
    if record.status == "running":
        start(record, now)
    else:
        dispatch.schedule(START_KIND, record.workspace_id, record.journey_id,
                          clock.parse_iso(record.settings["start_at"]), now)


def start(record: repo.JourneyRecord, now: datetime) -> None:
    """Begin a running journey's entries (idempotent: run ids are fixed)."""
    waiters.register_judgments(record.workspace_id, record.journey_id, _judged_events(record))
    listen_for_goal(record)
    trigger = _trigger(record)
    if trigger is not None and trigger.type == "trigger_event" and record.published_version is not None:
        event_entry.register(record.workspace_id, record.journey_id, record.published_version, trigger)
        return
    if trigger is None or trigger.type != "trigger_audience":
        return
    audience_id = str(trigger.config.get("audience_id"))
    try:
        usage.acquire(record.workspace_id, audience_id, "journey", record.journey_id, now)
    except NotFound:
        logs.logger.error("a journey's audience is gone", extra={"journey_id": record.journey_id})
        return
    run(record, "start", now)
    schedule_next_run(record, trigger.config.get("schedule"), now, now)


def run(record: repo.JourneyRecord, run_id: str, now: datetime) -> bool:
    """Enter the audience's current snapshot as run ``run_id``; False when there is none."""
    trigger = _trigger(record)
    audience = audiences_repo.get_audience(record.workspace_id, str(trigger.config.get("audience_id"))) \
        if trigger else None
    if audience is None or not audience.current_snapshot:
        return False
    runtime.enter(record.workspace_id, record.journey_id, audience.current_snapshot, run_id, now)
    return True


def next_run_at(schedule: dict[str, Any] | None, after: datetime, now: datetime, tz: str = "UTC") -> datetime | None:
    """The next periodic run after ``after`` (the run that just fired, or the start), never
    before ``now``: a rate counts from ``after``; a cron fires on the wall clock of ``tz``
    (the workspace's time zone: '0 9 ? * MON-FRI *' is nine in the morning where the
    marketer works). A missed run (the journey paused, the schedule late) is not caught up."""
    if not schedule:
        return None
    if schedule.get("rate"):
        count, unit = str(schedule["rate"]).split()
        period = timedelta(seconds=int(count) * _RATE_UNITS[unit.rstrip("s")])
        at = after + period
        while at <= now:
            at += period
        return at
    if schedule.get("cron"):
        try:
            return cron.parse(str(schedule["cron"])).next_after(max(after, now), tz=tz)
        except cron.CronError:  # no firing in the next years
            return None
    return None


def schedule_next_run(record: repo.JourneyRecord, schedule: dict[str, Any] | None, after: datetime,
                      now: datetime) -> None:
    if not schedule:
        return
    at = next_run_at(schedule, after, now, runtime.workspace_timezone(record.workspace_id))
    if at is not None:
        dispatch.schedule(RUN_KIND, record.workspace_id, record.journey_id, at, now)


@dispatch.on_due(START_KIND)
def _start_due(due: Due, now: datetime) -> None:
    record = repo.get(due.workspace_id, due.item_id)
    if record is None or record.status != "scheduled":
        return
    if _set_status(record, "running", now):
        record.status = "running"
        start(record, now)


@dispatch.on_due(RUN_KIND)
def _run_due(due: Due, now: datetime) -> None:
    record = repo.get(due.workspace_id, due.item_id)
    if record is None or record.status not in ("running", "paused"):
        return
    trigger = _trigger(record)
    fired = clock.parse_iso(due.at)
    if record.status == "running":  # the run id is the firing's minute: a second firing enters nobody again
        run(record, "run-" + fired.strftime("%Y%m%dT%H%M"), now)
    schedule_next_run(record, trigger.config.get("schedule") if trigger else None, fired, now)


@dispatch.on_due(END_KIND)
def _end_due(due: Due, now: datetime) -> None:
    record = repo.get(due.workspace_id, due.item_id)
    if record is not None and record.status in ("scheduled", "running", "paused"):
        _end(record, now)


def _end(record: repo.JourneyRecord, now: datetime) -> bool:
    if not _set_status(record, "ended", now, free_slot=True):
        return False
    trigger = _trigger(record)
    waiters.unregister_judgments(record.workspace_id, record.journey_id)
    goals.unregister(record.workspace_id, record.journey_id)
    if trigger is not None and trigger.type == "trigger_event":
        event_entry.unregister(record.workspace_id, record.journey_id)
    if trigger is not None and trigger.type == "trigger_audience":
        usage.release(record.workspace_id, str(trigger.config.get("audience_id")), "journey", record.journey_id)
    _release_held(record)  # held cohorts step once more and exit
    return True


def _release_held(record: repo.JourneyRecord) -> None:
    held = runtime_repo.held(record.workspace_id, record.journey_id)
    if held:
        runtime.enqueue([runtime.StepMessage(workspace_id=record.workspace_id, journey_id=record.journey_id,
                                             cohort_id=c) for c in held])
        runtime_repo.let_go(record.workspace_id, record.journey_id, held)


def _change(workspace_id: str, journey_id: str, now: datetime, allowed: tuple[str, ...], verb: str,
            apply: Any) -> repo.JourneyRecord:
    for attempt in range(5):
        record = _load(workspace_id, journey_id)
        if record.status not in allowed:
            raise Conflict("invalid_state", f"a {record.status} journey cannot be {verb}: only a "
                                            f"{' or '.join(allowed)} one can")
        if apply(record):
            return _load(workspace_id, journey_id)
        dynamo.backoff(attempt)
    raise Conflict("invalid_state", "the journey's status kept changing; read it and try again")


def pause(workspace_id: str, journey_id: str, now: datetime) -> repo.JourneyRecord:
    """Users hold where they are until resume."""
    return _change(workspace_id, journey_id, now, ("running",), "paused",
                   lambda r: _set_status(r, "paused", now))


def resume(workspace_id: str, journey_id: str, now: datetime) -> repo.JourneyRecord:
    """Held users continue from where they were."""
    def apply(record: repo.JourneyRecord) -> bool:
        if not _set_status(record, "running", now):
            return False
        _release_held(record)
        return True
    return _change(workspace_id, journey_id, now, ("paused",), "resumed", apply)


def stop(workspace_id: str, journey_id: str, now: datetime) -> repo.JourneyRecord:
    """End the journey: every enrollment ends (cohorts exit at their next step)."""
    return _change(workspace_id, journey_id, now, ("scheduled", "running", "paused"), "stopped",
                   lambda r: _end(r, now))
