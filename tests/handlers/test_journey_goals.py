"""A journey's goal through the real handlers on moto, with an injected clock: the goal event
counts one conversion per enrollment (once, however often it comes) and, with exit,
removes the user wherever they are; ``within`` bounds the conversions; a journey without
a goal pays no request for it."""
from __future__ import annotations

from collections import Counter

import pytest

from chalicelib import aws
from chalicelib.journeys import runtime
from tests.handlers.journey_support import (Clock, chain, close_entry_windows_at_once, message_status, publish,
                                           setup, stats)

USERS = {f"u{i:03d}": {} for i in range(10)}


@pytest.fixture
def env(api, workspace, drain, monkeypatch):
    clock = Clock(monkeypatch)
    key = workspace.admin_key
    ids = setup(api, key, drain, USERS)
    return clock, key, ids


def purchase(api, key, user: str, event_id: str) -> None:
    r = api.post("/v1/events", {"events": [{"user_id": user, "name": "purchase", "event_id": event_id,
                                            "properties": {}}]}, key=key)
    assert r.status == 202, r.json


def goal_of(api, key, jid: str) -> dict:
    r = api.get(f"/v1/journeys/{jid}/stats", key=key)
    assert r.status == 200, r.json
    return r.json["goal"]


def wait_then_sms(ids: dict, trigger: tuple[str, str, dict]) -> dict:
    return chain(trigger, ("w", "wait", {"duration": "P2D"}),
                 ("sms", "sms", {"provider": "sms1", "template_id": ids["template"]}), ("e", "end", {}))


def test_a_goal_event_during_a_wait_removes_the_user_and_the_others_go_on(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, wait_then_sms(ids, ("t", "trigger_audience", {"audience_id": ids["audience"]})),
                  goal={"event": "purchase", "exit": True})
    drain()
    assert stats(api, key, jid)["w"]["waiting"] == 10

    clock.advance(hours=5)
    purchase(api, key, "u003", "p1")
    drain()
    assert goal_of(api, key, jid) == {"event": "purchase", "conversions": 1, "exited": 0}

    clock.advance(days=2)
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["w"]["waiting"] == 0 and counted["w"]["passed"] == {"next": 9}
    assert counted["w"]["exited"] == 1 and counted["w"]["exited_goal"] == 1
    assert counted["sms"]["entered"] == 9 and counted["e"]["ended"] == 9
    assert goal_of(api, key, jid) == {"event": "purchase", "conversions": 1, "exited": 1}
    sent = message_status(workspace.id, jid, "sms", "start", list(USERS))
    assert set(sent) == set(USERS) - {"u003"}

    path = api.get(f"/v1/journeys/{jid}/users/u003", key=key).json["entries"][0]
    assert path["conversion"]["event_id"] == "p1"
    assert [(s["node_id"], s.get("branch"), s.get("exited")) for s in path["steps"]] == [
        ("t", None, None), ("w", "held", None), ("w", None, "goal")]
    other = api.get(f"/v1/journeys/{jid}/users/u004", key=key).json["entries"][0]
    assert "conversion" not in other and other["steps"][-1]["node_id"] == "e"


def test_a_goal_without_exit_counts_the_conversion_and_the_user_goes_on(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, wait_then_sms(ids, ("t", "trigger_audience", {"audience_id": ids["audience"]})),
                  goal={"event": "purchase", "exit": False})
    drain()
    purchase(api, key, "u003", "p1")
    drain()
    clock.advance(days=2, minutes=1)
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["sms"]["entered"] == 10 and counted["w"]["exited"] == 0
    assert goal_of(api, key, jid) == {"event": "purchase", "conversions": 1, "exited": 0}


def test_a_goal_event_that_comes_again_or_is_redelivered_counts_once(api, app, workspace, drain, env):
    from tests.handlers.journey_support import drain_repeating

    clock, key, ids = env
    jid = publish(api, key, wait_then_sms(ids, ("t", "trigger_audience", {"audience_id": ids["audience"]})),
                  goal={"event": "purchase"})
    drain()
    for event_id in ("p1", "p1", "p2"):  # a client retry of the same event, then a second purchase
        purchase(api, key, "u003", event_id)
        drain_repeating(app, times=2)  # every message of every queue... the steps queue twice
    events_handler_redelivery(app, workspace.id, "u003", "p1")
    assert goal_of(api, key, jid)["conversions"] == 1

    clock.advance(days=2, minutes=1)
    clock.run_due()
    drain_repeating(app, times=2)
    counted = stats(api, key, jid)
    assert counted["w"]["exited_goal"] == 1 and counted["sms"]["entered"] == 9
    assert goal_of(api, key, jid) == {"event": "purchase", "conversions": 1, "exited": 1}


def events_handler_redelivery(app, workspace_id: str, user: str, event_id: str) -> None:
    """The same events message handled twice by the events queue's handler."""
    from tests.handlers.test_events_handler import invoke, record

    from chalicelib import clock
    from chalicelib.events.messages import EventsMessage, QueuedEvent

    body = EventsMessage(workspace_id=workspace_id, received_at=clock.iso(clock.now()), events=[
        QueuedEvent(user_id=user, event_id=event_id, name="purchase", ts=clock.iso(clock.now()), properties={})
    ]).model_dump(mode="json")
    for _ in range(2):
        assert invoke(app, record(body, "m-goal")) == {"batchItemFailures": []}


def test_a_goal_counts_only_within_its_window_after_the_entry(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, wait_then_sms(ids, ("t", "trigger_manual", {})),
                  goal={"event": "purchase", "within": "PT1H"}, entry={"reentry": "unlimited"})
    runtime.enter(workspace.id, jid, ["u001", "u002"], "m1", clock.at)
    drain()
    clock.advance(minutes=30)
    purchase(api, key, "u001", "p1")  # within the hour: converts and leaves
    clock.advance(hours=1)
    purchase(api, key, "u002", "p2")  # 90 minutes after the entry: no conversion
    drain()
    assert goal_of(api, key, jid)["conversions"] == 1

    runtime.enter(workspace.id, jid, ["u001"], "m2", clock.at)  # a new entry of u001 is not exited by p1
    drain()
    clock.advance(days=2, minutes=1)
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["w"]["exited_goal"] == 1 and counted["sms"]["entered"] == 2
    assert set(message_status(workspace.id, jid, "sms", "m1", ["u001", "u002"])) == {"u002"}
    assert set(message_status(workspace.id, jid, "sms", "m2", ["u001"])) == {"u001"}


def test_an_event_triggered_users_goal_exits_the_entry_it_converts(api, workspace, drain, env, monkeypatch):
    clock, key, ids = env
    close_entry_windows_at_once(monkeypatch)
    jid = publish(api, key, wait_then_sms(ids, ("t", "trigger_event", {"event": "signup"})),
                  goal={"event": "purchase", "within": "P1D"})
    r = api.post("/v1/events", {"events": [{"user_id": u, "name": "signup", "event_id": f"s-{u}", "properties": {}}
                                           for u in ("u001", "u002")]}, key=key)
    assert r.status == 202
    drain()
    clock.advance(hours=2)
    purchase(api, key, "u001", "p1")
    drain()
    clock.advance(days=2, minutes=1)
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["w"]["exited_goal"] == 1 and counted["sms"]["entered"] == 1
    path = api.get(f"/v1/journeys/{jid}/users/u001", key=key).json["entries"][0]
    assert path["conversion"] == {"at": path["conversion"]["at"], "event_id": "p1"}


def test_a_goal_takes_a_user_out_of_an_event_judgment_at_once(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_audience", {"audience_id": ids["audience"]}),
        ("ej", "event_judgment", {"event": "login", "within": "P1D"}), ("y", "end", {}), ("n", "end", {}),
        edges=[("t", "ej", None), ("ej", "y", "yes"), ("ej", "n", "no")]), goal={"event": "purchase"})
    drain()
    purchase(api, key, "u001", "p1")
    drain()
    counted = stats(api, key, jid)
    assert counted["ej"]["waiting"] == 9 and counted["ej"]["exited_goal"] == 1
    r = api.post("/v1/events", {"events": [{"user_id": u, "name": "login", "event_id": f"l-{u}", "properties": {}}
                                           for u in ("u001", "u002")]}, key=key)
    assert r.status == 202
    drain()
    assert stats(api, key, jid)["ej"]["passed"] == {"yes": 1}  # u002 only
    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["ej"]["passed"] == {"yes": 1, "no": 8} and counted["ej"]["waiting"] == 0
    assert counted["ej"]["exited"] == 1 and counted["y"]["ended"] == 1 and counted["n"]["ended"] == 8


class Requests:
    """Every DynamoDB request the shared client makes, by operation, with its parameters."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict]] = []
        self._client = aws.dynamodb()
        self._client.meta.events.register("provide-client-params.dynamodb.*", self._seen)

    def _seen(self, params: dict, model, **_: object) -> None:
        self.calls.append((model.name, params))

    def close(self) -> None:
        self._client.meta.events.unregister("provide-client-params.dynamodb.*", self._seen)

    def count(self) -> Counter:
        return Counter(name for name, _ in self.calls)

    def goal_keys(self) -> int:
        return sum(1 for name, p in self.calls if name == "BatchGetItem"
                   for t in p["RequestItems"].values() for k in t["Keys"] if k["sk"]["S"].startswith("goal#"))


@pytest.mark.parametrize("goal, goal_reads", [(None, 0), ({"event": "purchase"}, 30)])
def test_a_journey_without_a_goal_makes_no_request_for_one(api, app, workspace, drain, env, goal, goal_reads):
    clock, key, ids = env
    settings_ = {"goal": goal} if goal else {}
    jid = publish(api, key, wait_then_sms(ids, ("t", "trigger_audience", {"audience_id": ids["audience"]})),
                  **settings_)
    drain()
    seen = Requests()
    try:
        clock.advance(days=2, minutes=1)
        clock.run_due()
        drain()  # three cohort steps of ten users: the wait's release, the SMS, the End
    finally:
        seen.close()
    assert seen.goal_keys() == goal_reads
    assert stats(api, key, jid)["sms"]["entered"] == 10

    seen = Requests()
    try:
        purchase(api, key, "u001", "p1")
        drain()  # the events handler: one Query of the listeners, nothing more without a goal
    finally:
        seen.close()
    listener_queries = [p for name, p in seen.calls if name == "Query"
                        and p["ExpressionAttributeValues"][":pk"]["S"].endswith("#jlisten")]
    assert len(listener_queries) == 1
    if goal is None:
        assert not any(name == "TransactWriteItems" for name, _ in seen.calls)
