"""Entry rules and caps through the handlers: caps cut a page, a periodic audience trigger
re-enters only whom the re-entry rule lets in, once_at_a_time waits for the end of the
active entry, and touches are paced at messages_per_second."""
from __future__ import annotations

import pytest

from chalicelib.journeys import runtime
from chalicelib.sending import queue as sends_queue
from tests.handlers.journey_support import Clock, chain, publish, setup, stats

USERS = {f"u{i:03d}": {} for i in range(30)}


@pytest.fixture
def env(api, workspace, drain, monkeypatch):
    clock = Clock(monkeypatch)
    key = workspace.admin_key
    ids = setup(api, key, drain, USERS)
    return clock, key, ids


def entries(api, key, jid):
    r = api.get(f"/v1/journeys/{jid}/stats", key=key)
    assert r.status == 200, r.json
    return r.json["entries"]


def test_a_total_cap_lets_in_the_first_users_and_counts_the_rest_refused(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}), ("e", "end", {})),
                  entry={"reentry": "once", "total_cap": 25})
    drain()
    assert entries(api, key, jid) == {"entered": 25, "refused_reentry": 0, "refused_active": 0, "refused_cap": 5}
    assert stats(api, key, jid)["e"]["ended"] == 25


@pytest.mark.parametrize("rules, second_run, third_run", [
    ({"reentry": "once"}, 0, 0),
    ({"reentry": "unlimited", "min_interval": "P2D"}, 0, 30),
    ({"reentry": "unlimited", "max_entries_per_user": 2}, 30, 0),
])
def test_a_daily_audience_trigger_re_enters_by_the_reentry_rule(api, workspace, drain, env, rules, second_run,
                                                                 third_run):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"],
                                                             "schedule": {"rate": "1 day"}}), ("e", "end", {})),
                  entry=rules)
    drain()
    assert entries(api, key, jid)["entered"] == 30
    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    assert entries(api, key, jid)["entered"] == 30 + second_run
    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    counted = entries(api, key, jid)
    assert counted["entered"] == 30 + second_run + third_run
    assert counted["refused_reentry"] == 90 - counted["entered"]
    assert stats(api, key, jid)["e"]["ended"] == counted["entered"]


def test_once_at_a_time_refuses_a_user_whose_entry_is_active_until_it_ends(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_manual", {}), ("w", "wait", {"duration": "P1D"}), ("e", "end", {})),
                  entry={"reentry": "once_at_a_time"})
    runtime.enter(workspace.id, jid, ["u001", "u002"], "m1", clock.at)
    drain()
    runtime.enter(workspace.id, jid, ["u001", "u003"], "m2", clock.at)
    drain()
    assert entries(api, key, jid)["entered"] == 3 and entries(api, key, jid)["refused_active"] == 1
    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    runtime.enter(workspace.id, jid, ["u001"], "m3", clock.at)
    drain()
    assert entries(api, key, jid)["entered"] == 4


def test_touches_are_paced_at_the_journeys_messages_per_second(api, workspace, drain, env, monkeypatch):
    clock, key, ids = env
    queued: list[sends_queue.SendMessage] = []
    monkeypatch.setattr(sends_queue, "enqueue", lambda messages, now: queued.extend(messages))
    jid = publish(api, key, chain(("t", "trigger_manual", {}),
                                  ("sms", "sms", {"provider": "sms1", "template_id": ids["template"]}),
                                  ("e", "end", {})), messages_per_second=100)
    runtime.enter(workspace.id, jid, [f"x{i:04d}" for i in range(350)], "bulk", clock.at)
    drain()
    assert [len(m.recipients) for m in queued] == [100, 100, 100, 50]
    assert [(m.not_before - clock.at).total_seconds() if m.not_before else 0 for m in queued] == [0, 1, 2, 3]
    assert {m.journey_id for m in queued} == {jid} and {m.entry_id for m in queued} == {"bulk"}
