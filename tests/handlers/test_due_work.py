"""The due-work index through the real one-minute scheduled function, on the injected
clock: work runs in its minute, once when the schedule fires twice, minutes the schedule
missed are caught up, failures are retried; audiences refresh periodically from it."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import aws, clock, ids
from chalicelib.audiences import repo as audiences_repo
from chalicelib.config import settings
from chalicelib.models.audiences import SnapshotItem, audience_pk
from chalicelib.scheduling import buckets, dispatch
from chalicelib.scheduling import repo as schedule_repo
from chalicelib.scheduling.repo import Due

CALLS: list[tuple[str, str, datetime]] = []
FAILS: dict[str, int] = {}


@dispatch.on_due("test_work")
def _record(due: Due, now: datetime) -> None:
    if FAILS.get(due.item_id, 0) > 0:
        FAILS[due.item_id] -= 1
        raise RuntimeError("not yet")
    CALLS.append((due.workspace_id, due.item_id, now))


@pytest.fixture(autouse=True)
def restore_clock():
    yield
    clock.set_offset(0)


_hours = iter(range(4, 1000, 4))


def base() -> datetime:
    """A minute (at :30 seconds) hours ahead, later for each test: the cursor only moves
    forward, and each test's start is less than a drain's catch-up limit (a day) after the last."""
    return buckets.floor_minute(datetime.now(timezone.utc)) + timedelta(hours=next(_hours), seconds=30)


def fire(app, moment: datetime) -> None:
    """The clock moved to ``moment``, then EventBridge invokes the scheduled function."""
    from devstack.lambda_shapes import FakeContext, scheduled_event

    clock.set_offset((moment - datetime.now(timezone.utc)).total_seconds())
    app.handler_map["every_minute"](scheduled_event("every_minute", moment, settings.region), FakeContext("every_minute"))


def ran(workspace_id: str) -> list[str]:
    return [item for ws, item, _ in CALLS if ws == workspace_id]


def test_work_runs_in_its_minute_and_once_when_the_schedule_fires_twice(app) -> None:
    ws, t = ids.new_id("ws_"), base()
    fire(app, t)
    dispatch.schedule("test_work", ws, "w1", t + timedelta(minutes=10), t)

    fire(app, t + timedelta(minutes=9))
    assert ran(ws) == []
    fire(app, t + timedelta(minutes=10))
    fire(app, t + timedelta(minutes=10, seconds=20))  # the same minute again
    assert ran(ws) == ["w1"]
    fire(app, t + timedelta(minutes=11))
    assert ran(ws) == ["w1"]


def test_a_claim_held_by_one_drain_is_not_taken_by_another(aws_backend) -> None:
    ws, t = ids.new_id("ws_"), base()
    bucket = dispatch.schedule("test_work", ws, "w2", t, t)
    [due] = [d for d in schedule_repo.in_bucket(bucket) if d.workspace_id == ws]
    epoch = int(t.timestamp())

    first = schedule_repo.claim(due, epoch, 300)
    assert first is not None
    assert schedule_repo.claim(due, epoch + 10, 300) is None  # a concurrent firing
    assert schedule_repo.claim(due, epoch + 301, 300) is not None  # the lease lapsed: the holder died
    assert schedule_repo.finish(first) is False  # the old holder cannot delete the new claim


def test_minutes_the_schedule_missed_are_caught_up(app) -> None:
    ws, t = ids.new_id("ws_"), base()
    fire(app, t)
    dispatch.schedule("test_work", ws, "early", t + timedelta(minutes=3), t)
    dispatch.schedule("test_work", ws, "late", t + timedelta(minutes=40), t)

    fire(app, t + timedelta(minutes=55))  # 54 minutes with no invocation

    assert sorted(ran(ws)) == ["early", "late"]


def test_work_scheduled_in_the_past_or_behind_the_cursor_still_runs(app) -> None:
    ws, t = ids.new_id("ws_"), base()
    fire(app, t + timedelta(minutes=5))
    # put into the minute the last drain already read (it raced that drain)
    schedule_repo.put(Due("test_work", ws, "raced", clock.iso(t), buckets.bucket_of(t + timedelta(minutes=5))),
                      int(t.timestamp()))
    dispatch.schedule("test_work", ws, "past", t - timedelta(days=2), t + timedelta(minutes=5))

    fire(app, t + timedelta(minutes=6))

    assert sorted(ran(ws)) == ["past", "raced"]


def test_failing_work_is_retried_the_next_minute(app) -> None:
    ws, t = ids.new_id("ws_"), base()
    fire(app, t)
    FAILS["flaky"] = 2
    dispatch.schedule("test_work", ws, "flaky", t + timedelta(minutes=1), t)

    fire(app, t + timedelta(minutes=1))
    fire(app, t + timedelta(minutes=2))
    assert ran(ws) == []
    fire(app, t + timedelta(minutes=3))
    assert ran(ws) == ["flaky"]


def snapshots(workspace_id: str, audience_id: str) -> list[SnapshotItem]:
    return list(SnapshotItem.query(audience_pk(workspace_id, audience_id), SnapshotItem.sk.startswith("snap#"),
                                   consistent_read=True))


def test_an_audience_refreshes_every_hour_from_the_due_work_index(app, api, workspace, drain) -> None:
    key = workspace.admin_key
    api.post("/v1/profiles", {"profiles": [{"user_id": "r1", "attributes": {"city": "Hangzhou"}}]}, key=key)
    t = base()
    clock.set_offset((t - datetime.now(timezone.utc)).total_seconds())
    created = api.post("/v1/audiences", {"name": "hourly", "refresh": {"every": 1, "unit": "hour"}, "source": {
        "type": "rules", "conditions": [{"attribute": "city", "op": "eq", "value": "Hangzhou"}]}}, key=key)
    assert created.status == 202, created.json
    assert created.json["refresh"] == {"every": 1, "unit": "hour"}
    audience_id = created.json["id"]
    drain()
    assert len(snapshots(workspace.id, audience_id)) == 1

    fire(app, t + timedelta(minutes=59))
    drain()
    assert len(snapshots(workspace.id, audience_id)) == 1
    fire(app, t + timedelta(minutes=60))
    fire(app, t + timedelta(minutes=60, seconds=15))  # twice in the due minute
    drain()
    assert len(snapshots(workspace.id, audience_id)) == 2
    # the schedule misses the next due minute; the following firing catches it up
    fire(app, t + timedelta(minutes=123))
    drain()
    built = snapshots(workspace.id, audience_id)
    assert len(built) == 3 and all(s.status == "ready" for s in built)
    assert api.get(f"/v1/audiences/{audience_id}", key=key).json["snapshot"]["id"] == max(s.snapshot_id for s in built)

    # deleted: the next due refresh builds nothing and schedules nothing
    assert api.delete(f"/v1/audiences/{audience_id}", key=key).status == 204
    fire(app, t + timedelta(minutes=180))
    assert audiences_repo.get_audience(workspace.id, audience_id) is None
    assert not [d for d in schedule_repo.in_bucket(buckets.bucket_of(t + timedelta(minutes=240)))
                if d.item_id == audience_id]


def test_the_schedule_table_is_never_scanned(app, monkeypatch) -> None:
    scans: list[str] = []
    real = aws.dynamodb()
    original = real.scan

    def spy(**params):
        scans.append(params["TableName"])
        return original(**params)

    monkeypatch.setattr(real, "scan", spy)
    fire(app, base())
    assert settings.table("schedule") not in scans
