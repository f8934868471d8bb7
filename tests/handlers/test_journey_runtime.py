"""The journey runtime through the real handlers on moto, with an injected clock: cohorts
enter from an audience, move node by node on the steps queue, park in the due-work index,
and every count is exact however often a step is delivered."""
from __future__ import annotations

import pytest

from chalicelib.journeys import cohorts, runtime, runtime_repo
from chalicelib.profiles import repo as profiles_repo
from tests.handlers.journey_support import Clock, chain, drain_repeating, message_status, publish, setup, stats

USERS = {f"u{i:03d}": {} for i in range(30)}


@pytest.fixture
def env(api, workspace, drain, monkeypatch):
    clock = Clock(monkeypatch)
    key = workspace.admin_key
    ids = setup(api, key, drain, USERS)
    return clock, key, ids


def test_an_audience_journey_enters_every_member_once_and_counts_each_node(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}),
                                  ("tag", "tag", {"add": ["journeyed"]}), ("e", "end", {})))
    drain()

    counted = stats(api, key, jid)
    assert counted["t"]["entered"] == 30 and counted["t"]["passed"] == {"next": 30}
    assert counted["tag"]["entered"] == 30 and counted["tag"]["passed"] == {"next": 30}
    assert counted["e"]["entered"] == 30 and counted["e"]["ended"] == 30
    tagged = profiles_repo.read_profiles(workspace.id, list(USERS))
    assert all("journeyed" in p.tags for p in tagged.values()) and len(tagged) == 30


def test_redelivering_every_steps_message_changes_no_count_and_sends_nothing_twice(api, app, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_audience", {"audience_id": ids["audience"]}),
        ("split", "random_split", {"groups": [{"id": "a", "percent": 40}, {"id": "b", "percent": 30},
                                              {"id": "c", "percent": 30}]}),
        ("sms", "sms", {"provider": "sms1", "template_id": ids["template"]}), ("e", "end", {}),
        edges=[("t", "split", None), ("split", "sms", "a"), ("split", "sms", "b"), ("split", "e", "c"),
               ("sms", "e", None)]))
    drain_repeating(app, times=3)

    counted = stats(api, key, jid)
    passed = counted["split"]["passed"]
    assert sum(passed.values()) == 30 and set(passed) == {"a", "b", "c"}
    assert counted["sms"]["entered"] == passed["a"] + passed["b"]
    assert counted["sms"]["sends"]["sent"] == passed["a"] + passed["b"]
    assert counted["e"]["ended"] == 30 and counted["t"]["entered"] == 30


def test_a_cohort_split_three_ways_and_stepped_again_after_a_crash_is_split_the_same_way(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_manual", {}),
        ("split", "random_split", {"groups": [{"id": "a", "percent": 34}, {"id": "b", "percent": 33},
                                              {"id": "c", "percent": 33}]}),
        ("e", "end", {}), edges=[("t", "split", None), ("split", "e", "a"), ("split", "e", "b"), ("split", "e", "c")]))
    runtime.enter(workspace.id, jid, list(USERS), "manual-1", clock.at)
    root = cohorts.root_id(jid, 1, "manual-1", "u000")
    at_split = cohorts.child_id(root, "t", None)
    message = runtime.StepMessage(workspace_id=workspace.id, journey_id=jid, cohort_id=root)
    assert runtime.step(message, clock.at) == "stepped"
    split_message = runtime.StepMessage(workspace_id=workspace.id, journey_id=jid, cohort_id=at_split)
    assert runtime.step(split_message, clock.at) == "stepped"
    first = {b: runtime_repo.read_step(workspace.id, jid, cohorts.child_id(at_split, "split", b))[0].users
             for b in "abc"}
    assert runtime.step(split_message, clock.at) == "done"  # a redelivery: nothing happens
    # a crash after the next cohorts were written but before the marker: the step runs again
    from chalicelib import aws
    from chalicelib.config import settings
    aws.dynamodb().delete_item(TableName=settings.table("journeys"), Key={
        "pk": {"S": runtime_repo.cohort_pk(workspace.id, jid, at_split)}, "sk": {"S": "step"}})
    assert runtime.step(split_message, clock.at) == "stepped"
    again = {b: runtime_repo.read_step(workspace.id, jid, cohorts.child_id(at_split, "split", b))[0].users
             for b in "abc"}

    assert again == first and all(first[b] for b in "abc")
    assert sorted(u for b in "abc" for u in first[b]) == sorted(USERS)
    drain()
    assert stats(api, key, jid)["e"]["ended"] == 30


def test_a_two_day_wait_parks_the_cohort_and_a_result_judgment_reads_the_sends(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_audience", {"audience_id": ids["audience"]}),
        ("sms", "sms", {"provider": "sms1", "template_id": ids["template"]}),
        ("w", "wait", {"duration": "P2D"}),
        ("r", "result_judgment", {"statuses": ["sent", "delivered"], "after": "PT1H"}),
        ("yes", "end", {}), ("no", "end", {}),
        edges=[("t", "sms", None), ("sms", "w", None), ("w", "r", None), ("r", "yes", "yes"), ("r", "no", "no")]))
    drain()
    counted = stats(api, key, jid)
    assert counted["w"]["entered"] == 30 and counted["w"]["waiting"] == 30 and counted["w"]["passed"] == {}
    clock.advance(days=1)
    clock.run_due()
    drain()
    assert stats(api, key, jid)["w"]["waiting"] == 30  # not yet
    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["w"]["waiting"] == 0 and counted["w"]["passed"] == {"next": 30}
    assert counted["r"]["waiting"] == 30
    clock.advance(hours=1, minutes=1)
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["r"]["passed"] == {"yes": 30} and counted["yes"]["ended"] == 30
    statuses = message_status(workspace.id, jid, "sms", "start", list(USERS))
    assert len(statuses) == 30


def test_a_cohort_held_just_as_the_journey_resumes_is_not_left_behind(api, workspace, drain, env, monkeypatch):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_manual", {}), ("e", "end", {})))
    runtime.enter(workspace.id, jid, ["u001", "u002"], "m1", clock.at)
    assert api.post(f"/v1/journeys/{jid}/pause", key=key).status == 200
    hold = runtime_repo.hold

    def resume_first(*args):  # resume reads the held list before this hold is written
        assert api.post(f"/v1/journeys/{jid}/resume", key=key).status == 200
        hold(*args)
    monkeypatch.setattr(runtime_repo, "hold", resume_first)
    drain()
    monkeypatch.setattr(runtime_repo, "hold", hold)
    drain()
    assert stats(api, key, jid)["e"]["ended"] == 2
