"""Building audience snapshots: parallel-scan segments over the profiles table, counted
once each, merged into packed member pages by the segment that completes the set.

A build is a snapshot (``building``) with ``total_segments`` segments. Each segment (a
queue message, or a direct call for a small table) scans its part of the profiles table,
keeps the workspace's profiles its ``Selector`` picks, writes them sorted as a run under
a fresh attempt token, then marks itself done once: ``ADD done_segments :segment`` under
``NOT contains(done_segments, :segment)``, with its match count and the run to keep. A
redelivered segment finds itself done and stops; one that raced its twin loses the
condition and its run is never read. The segment whose mark completes the set seals the
snapshot: it merges the kept runs (each sorted) into one ascending stream, writes it as
member pages keyed by their first id, turns the snapshot ready, and moves the audience's
``current_snapshot`` forward; the snapshot it replaced expires after a grace period, so
readers that started on it finish on it. Sealing is idempotent (same runs, same pages),
so a crash after the last mark is finished by the redelivery.

What to select is a ``Selector`` (rules, RFM, AIPL plug in through ``register``); the
decision is pure, the storage is in ``repo``.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol

from chalicelib import aws, ids, logs
from chalicelib.audiences import members, repo
from chalicelib.audiences.messages import BuildSegment
from chalicelib.clock import iso
from chalicelib.config import settings
from chalicelib.errors import NotFound
from chalicelib.profiles.repo import ProfileRecord, StatRecord

RUN_TTL_SECONDS = 2 * 86_400  # runs are read by the seal, minutes after they are written


class Selector(Protocol):
    """Decides membership from one profile as plain data."""

    def needs_events(self) -> bool:
        """Whether ``select`` reads the profile's event aggregates (the scan then reads them too)."""
        ...

    def select(self, profile: ProfileRecord, stats: Mapping[str, StatRecord], tags: frozenset[str]) -> bool:
        ...


SelectorFactory = Callable[..., Selector]  # (source, now) or, after a first pass, (source, now, prepared)
_FACTORIES: dict[str, SelectorFactory] = {}
_GROUPS: dict[str, tuple[str, ...]] = {}


class FirstPass(Protocol):
    """A pass over every segment before the member pass (e.g. RFM quintile cut points)."""

    def needed(self, source: Mapping[str, Any]) -> bool:
        ...

    def run(self, job: BuildSegment, snapshot: repo.SnapshotRecord, now: datetime) -> str:
        """Count one segment's first pass; the segment completing the set stores the result
        (``repo.mark_prepared``) and starts the member pass."""
        ...


_FIRST_PASSES: dict[str, FirstPass] = {}


class UnbuildableSource(Exception):
    """A source no build can ever select from (an unknown type): the snapshot fails with this reason."""


def register(source_type: str, factory: SelectorFactory, *, groups: tuple[str, ...] | None = None,
             first_pass: FirstPass | None = None) -> None:
    """Make sources of ``source_type`` buildable: ``factory(source, now)`` gives their selector.
    With ``groups``, the selector also has ``classify`` -> (selected, group name or None) and
    the snapshot keeps the users per group (its distribution). With ``first_pass``, sources
    it says need it are built in two passes, and the factory gets the pass's result."""
    _FACTORIES[source_type] = factory
    if groups is not None:
        _GROUPS[source_type] = groups
    if first_pass is not None:
        _FIRST_PASSES[source_type] = first_pass


def selector_for(source: Mapping[str, Any], now: datetime, prepared: str | None = None) -> Selector:
    factory = _FACTORIES.get(str(source.get("type")))
    if factory is None:
        raise UnbuildableSource(f"audiences of source type {source.get('type')!r} cannot be built")
    return factory(source, now) if prepared is None else factory(source, now, prepared)


def first_pass_of(source: Mapping[str, Any]) -> FirstPass | None:
    """The first pass a source needs, or None (one pass)."""
    found = _FIRST_PASSES.get(str(source.get("type")))
    return found if found is not None and found.needed(source) else None


def plan_segments(item_count: int, items_per_segment: int, max_segments: int) -> int:
    """How many parallel-scan segments a table of ``item_count`` items is split into."""
    return max(1, min(max_segments, math.ceil(item_count / max(1, items_per_segment))))


def build(workspace_id: str, audience_id: str, now: datetime, *, total_segments: int | None = None,
          inline: bool | None = None) -> repo.SnapshotRecord:
    """Start a new snapshot of the audience (a first build or a refresh): readers keep the
    current snapshot until this one is ready. A table at most ``audience_inline_items``
    big is scanned here, in one segment; a bigger one fans out over the audience-jobs queue.
    ``total_segments``/``inline`` override the sizing (tests, benchmarks)."""
    audience = repo.get_audience(workspace_id, audience_id)
    if audience is None:
        raise NotFound(f"no audience {audience_id}")
    if audience.source.get("type") == "upload":  # reads its newest file, not the profiles table
        return _upload_build.start(audience, now)
    if audience.source.get("type") == "task_result":  # reads the task's messages, not the profiles table
        from chalicelib.audiences import task_result

        return task_result.start(audience, now)
    if total_segments is None:
        count = repo.table_item_count()
        inline = count <= settings.audience_inline_items if inline is None else inline
        total_segments = 1 if inline else plan_segments(count, settings.audience_segment_items,
                                                        settings.audience_max_segments)
    two_pass = first_pass_of(audience.source) is not None
    snapshot = repo.create_snapshot(audience, ids.ordered_id("snap_", now), total_segments, iso(now),
                                    phase="values" if two_pass else None)
    jobs = [BuildSegment(workspace_id=workspace_id, audience_id=audience_id, snapshot_id=snapshot.snapshot_id,
                         segment=segment, total_segments=total_segments, phase="values" if two_pass else "members",
                         inline=bool(inline)) for segment in range(total_segments)]
    logs.logger.info("audience build started", extra={"audience_id": audience_id, "snapshot_id": snapshot.snapshot_id,
                                                      "segments": total_segments, "inline": bool(inline)})
    if inline:
        for job in jobs:
            run_segment(job, now)
    else:
        send(jobs)
    return repo.get_snapshot(workspace_id, audience_id, snapshot.snapshot_id) or snapshot


def send(jobs: list[BuildSegment]) -> None:
    """Queue segment jobs, ten per SendMessageBatch."""
    url = aws.queue_url(settings.queue("audience-jobs"))
    for start in range(0, len(jobs), 10):
        part = jobs[start:start + 10]
        answer = aws.sqs().send_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "MessageBody": job.model_dump_json()} for i, job in enumerate(part)])
        if answer.get("Failed"):
            raise RuntimeError(f"{len(answer['Failed'])} audience build jobs were not queued")


def select(selector: Selector, candidates: Any) -> list[str]:
    """The sorted user ids of the candidates the selector picks (pure)."""
    return sorted({c.profile.user_id for c in candidates if selector.select(c.profile, c.stats, c.profile.tags)})


def select_counting(selector: Selector, candidates: Any) -> tuple[list[str], dict[str, int]]:
    """The sorted user ids the selector picks, and the users per group (segment, stage) among
    all candidates when the selector classifies (pure)."""
    classify = getattr(selector, "classify", None)
    if classify is None:
        return select(selector, candidates), {}
    chosen: set[str] = set()
    groups: Counter[str] = Counter()
    for c in candidates:
        selected, group = classify(c.profile, c.stats, c.profile.tags)
        if group is not None:
            groups[group] += 1
        if selected:
            chosen.add(c.profile.user_id)
    return sorted(chosen), dict(groups)


def run_segment(job: BuildSegment, now: datetime) -> str:
    """Scan, select and count one segment, once; seal the snapshot if it completes the set.
    Returns what happened: ``done``, ``sealed``, ``already_done``, ``duplicate``, ``not_building``
    or ``failed``."""
    snapshot = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
    if snapshot is None or snapshot.status != "building":
        return "not_building"
    if job.phase == "values":
        first_pass = _FIRST_PASSES.get(str(snapshot.source.get("type")))
        if first_pass is None:
            repo.mark_failed(snapshot, "this source type has no first pass", iso(now))
            return "failed"
        return first_pass.run(job, snapshot, now)
    if job.segment in snapshot.done_segments:
        if snapshot.complete:  # the sealing delivery stopped between its mark and the seal
            seal(snapshot, now)
        return "already_done"
    try:
        selector = selector_for(snapshot.source, now, snapshot.prepared)
    except UnbuildableSource as error:
        repo.mark_failed(snapshot, str(error), iso(now))
        return "failed"
    matched, groups = select_counting(selector, repo.scan_segment(job.workspace_id, job.segment, job.total_segments,
                                                                  selector.needs_events()))
    run = repo.write_run(snapshot, job.segment, ids.new_id("a"), matched, int(now.timestamp()) + RUN_TTL_SECONDS)
    run = repo.RunRef(run.attempt, run.pages, groups)
    counted = repo.mark_segment_done(snapshot, job.segment, run, len(matched))
    if counted is None:  # a twin delivery counted this segment first, or the build ended
        again = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
        if again is not None and again.status == "building" and again.complete:
            seal(again, now)
        return "duplicate"
    if counted.complete:
        seal(counted, now)
        return "sealed"
    return "done"


def fail_build(job: BuildSegment, reason: str, now: datetime) -> None:
    """A segment that will not be retried again: the snapshot fails with the reason
    (readers keep the current snapshot; a refresh builds anew)."""
    snapshot = repo.get_snapshot(job.workspace_id, job.audience_id, job.snapshot_id)
    if snapshot is not None and snapshot.status == "building":
        repo.mark_failed(snapshot, reason, iso(now))


def seal(snapshot: repo.SnapshotRecord, now: datetime) -> None:
    """Merge the kept runs into member pages, turn the snapshot ready and make it current.
    Safe to run twice: the pages are the same items, and only one ready mark succeeds."""
    runs = (repo.read_run(snapshot, segment, snapshot.runs[segment]) for segment in sorted(snapshot.runs))
    size, pages = repo.write_pages(snapshot, members.merge(runs))
    if size != snapshot.matched:  # a user's items share one partition, hence one segment: never expected
        logs.logger.error("audience segments disagree", extra={"snapshot_id": snapshot.snapshot_id,
                                                               "merged": size, "counted": snapshot.matched})
    names = _GROUPS.get(str(snapshot.source.get("type")))
    distribution = None
    if names is not None:  # summed from the counted segments' groups: exact, no scan
        distribution = dict.fromkeys(names, 0)
        for run in snapshot.runs.values():
            for name, count in run.groups.items():
                distribution[name] = distribution.get(name, 0) + count
    if not repo.mark_ready(snapshot, size, pages, iso(now), distribution):
        return
    switched, previous = repo.make_current(snapshot, iso(now))
    expires_at = int(now.timestamp()) + settings.audience_snapshot_grace_hours * 3600
    stale = previous if switched else snapshot.snapshot_id  # not switched: a newer snapshot is current
    if stale:
        repo.expire_snapshot(snapshot.workspace_id, snapshot.audience_id, stale, expires_at, iso(now))
    logs.logger.info("audience snapshot ready", extra={"snapshot_id": snapshot.snapshot_id, "size": size,
                                                       "pages": pages, "current": switched})


from chalicelib.audiences import selectors as _selectors  # noqa: E402,F401 - registers the source types' selectors
from chalicelib.audiences import upload_build as _upload_build  # noqa: E402 - builds of upload sources
