"""A target-audience trigger on a cron schedule through the real handlers on moto: it runs at
the times the schedule names, on the workspace's wall clock (Asia/Shanghai, UTC+8), as
the clock advances; each run enters the audience once, even when its due work fires twice."""
from __future__ import annotations

from datetime import timedelta

from chalicelib.journeys import lifecycle, runtime_repo
from chalicelib.scheduling.repo import Due
from tests.handlers.journey_support import START, Clock, chain, publish, setup

USERS = {f"u{i:03d}": {} for i in range(10)}


def entered(api, key, jid: str) -> int:
    r = api.get(f"/v1/journeys/{jid}/stats", key=key)
    assert r.status == 200, r.json
    return r.json["entries"]["entered"]


def test_a_cron_audience_trigger_runs_at_the_scheduled_local_times(api, workspace, drain, monkeypatch):
    clock = Clock(monkeypatch)  # Monday 2026-11-30 09:00 in Shanghai
    key = workspace.admin_key
    ids = setup(api, key, drain, USERS)
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"],
                                                             "schedule": {"cron": "0 10 ? * MON,WED *"}}),
                                  ("e", "end", {})), entry={"reentry": "unlimited"})
    drain()
    assert entered(api, key, jid) == 10  # the start

    clock.advance(minutes=59)
    clock.run_due()
    drain()
    assert entered(api, key, jid) == 10  # 09:59: not yet
    clock.advance(minutes=1)
    clock.run_due()
    drain()
    assert entered(api, key, jid) == 20  # Monday 10:00 local, 02:00 UTC
    clock.advance(days=1)
    clock.run_due()
    drain()
    assert entered(api, key, jid) == 20  # Tuesday: no run
    clock.advance(days=1)
    clock.run_due()
    drain()
    assert entered(api, key, jid) == 30  # Wednesday 10:00
    runs = sorted(r["sk"] for r in runtime_repo.runs(workspace.id, jid))
    assert runs == ["run#run-20261130T0200", "run#run-20261202T0200", "run#start"]


def test_a_run_whose_due_work_fires_twice_enters_the_audience_once(api, workspace, drain, monkeypatch):
    clock = Clock(monkeypatch)
    key = workspace.admin_key
    ids = setup(api, key, drain, USERS)
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"],
                                                             "schedule": {"cron": "0 10 * * ? *"}}),
                                  ("e", "end", {})), entry={"reentry": "unlimited"})
    drain()
    due = Due(lifecycle.RUN_KIND, workspace.id, jid, "2026-11-30T02:00:00.000Z", "bucket")
    for minutes in (60, 61):  # the same firing handled twice, a minute apart
        clock.at = START + timedelta(minutes=minutes)
        lifecycle._run_due(due, clock.at)
        drain()
    assert entered(api, key, jid) == 20
