"""End to end on the local stack over HTTP: a journey (trigger -> SMS -> wait 2 days ->
result judgment -> SMS -> End) run by moving the stack's clock, checking the exact messages
each user got and the node stats; once entered from an audience, once from events (each
user's own request, gathered into one window's cohort as the stack's queues deliver them)."""
from __future__ import annotations

import time
from typing import Any

import pytest

pytestmark = pytest.mark.e2e
USERS = [f"e2e-u{i}" for i in range(5)]


def shop(stack) -> tuple[str, dict[str, Any]]:
    """A workspace with a sandbox SMS account, an approved template and USERS with phones;
    returns its admin key and the SMS node config."""
    status, created = stack.call("POST", "/v1/workspaces", {"name": "J", "timezone": "UTC"},
                                 key=stack.org_admin_key)
    assert status == 201, created
    key = created["api_key"]["secret"]
    assert stack.call("PUT", "/v1/providers/sms1", {"channel": "sms", "kind": "sandbox",
                                                    "settings": {"receipt_delay_seconds": 30}}, key=key)[0] == 200
    status, template = stack.call("POST", "/v1/templates", {"channel": "sms", "name": "hi", "body": "Hi"}, key=key)
    assert status == 201, template
    assert stack.call("POST", f"/v1/templates/{template['id']}/approve", key=key)[0] == 200
    for n, user in enumerate(USERS):
        body = {"attributes": {"city": "Hangzhou"}, "phone": f"+861380000000{n}"}
        assert stack.call("PUT", f"/v1/profiles/{user}", body, key=key)[0] in (200, 201)
    return key, {"provider": "sms1", "template_id": template["id"]}


def publish(stack, key: str, trigger: dict[str, Any], sms: dict[str, Any]) -> str:
    graph = {"nodes": [
        {"id": "t", **trigger},
        {"id": "first", "type": "sms", "config": sms},
        {"id": "w", "type": "wait", "config": {"duration": "P2D"}},
        {"id": "r", "type": "result_judgment", "config": {"statuses": ["delivered"], "after": "PT1H"}},
        {"id": "second", "type": "sms", "config": sms},
        {"id": "done", "type": "end", "config": {}}, {"id": "lost", "type": "end", "config": {}}],
        "edges": [{"from": "t", "to": "first"}, {"from": "first", "to": "w"}, {"from": "w", "to": "r"},
                  {"from": "r", "to": "second", "branch": "yes"}, {"from": "r", "to": "lost", "branch": "no"},
                  {"from": "second", "to": "done"}]}
    status, journey = stack.call("POST", "/v1/journeys", {"name": "Two touches"}, key=key)
    assert status == 201, journey
    jid = journey["id"]
    status, put = stack.call("PUT", f"/v1/journeys/{jid}/graph", {**graph, "revision": journey["revision"]}, key=key)
    assert status == 200, put
    status, published = stack.call("POST", f"/v1/journeys/{jid}/publish", key=key)
    assert status == 200 and published["status"] == "running", published
    return jid


def node_stats(stack, key: str, jid: str) -> dict[str, Any]:
    status, body = stack.call("GET", f"/v1/journeys/{jid}/stats", key=key)
    assert status == 200, body
    return {n["node_id"]: n for n in body["nodes"]}


def advance(stack, seconds: int) -> None:
    # the one-minute schedule drains at most a day of minutes per run: move in parts
    while seconds > 0:
        part = min(seconds, 12 * 3600)
        assert stack.call("POST", "/_local/clock", {"advance_seconds": part})[0] == 200
        seconds -= part


def walk_the_journey(stack, key: str, jid: str) -> None:
    """From the first SMS sent to everyone: its receipts, two days' wait, the judgment's hour,
    the second SMS; then each user's path."""
    stack.call("POST", "/_local/clock", {"advance_seconds": 120})  # the first SMS's receipts
    counted = node_stats(stack, key, jid)
    assert counted["first"]["sends"]["delivered"] == 5 and counted["w"]["waiting"] == 5
    advance(stack, 86400)
    assert node_stats(stack, key, jid)["w"]["waiting"] == 5 and node_stats(stack, key, jid)["second"]["entered"] == 0
    advance(stack, 86400)  # two days after the wait began
    counted = node_stats(stack, key, jid)
    assert counted["w"]["passed"] == {"next": 5} and counted["r"]["waiting"] == 5
    stack.call("POST", "/_local/clock", {"advance_seconds": 3600 + 60})  # the judgment's hour
    stack.call("POST", "/_local/clock", {"advance_seconds": 120})  # the second SMS's receipts
    counted = node_stats(stack, key, jid)
    assert counted["r"]["passed"] == {"yes": 5} and counted["second"]["entered"] == 5
    assert counted["first"]["sends"]["sent"] == 5 and counted["second"]["sends"]["sent"] == 5
    assert counted["done"]["ended"] == 5 and counted["lost"]["entered"] == 0
    for user in USERS:
        status, path = stack.call("GET", f"/v1/journeys/{jid}/users/{user}", key=key)
        assert status == 200, path
        (entry,) = path["entries"]
        assert sorted(m["node_id"] for m in entry["messages"]) == ["first", "second"], entry
        assert [s["node_id"] for s in entry["steps"] if not s.get("branch") == "held"][-1] == "done"


def test_an_audience_journey_waits_two_days_judges_the_first_sms_and_sends_the_second(stack):
    key, sms = shop(stack)
    status, audience = stack.call("POST", "/v1/audiences", {"name": "all", "source": {
        "type": "rules", "match": "all", "conditions": [{"attribute": "city", "op": "exists"}]}}, key=key)
    assert status == 202, audience
    deadline = time.monotonic() + 60
    while stack.call("GET", f"/v1/audiences/{audience['id']}", key=key)[1]["status"] != "ready":
        assert time.monotonic() < deadline, "the audience did not build"
        stack.call("POST", "/_local/clock", {"advance_seconds": 0})
    jid = publish(stack, key, {"type": "trigger_audience", "config": {"audience_id": audience["id"]}}, sms)

    stack.call("POST", "/_local/clock", {"advance_seconds": 0})  # the entry and the first SMS
    walk_the_journey(stack, key, jid)


def test_an_event_journey_gathers_each_users_request_and_runs_to_the_end(stack):
    key, sms = shop(stack)
    jid = publish(stack, key, {"type": "trigger_event", "config": {"event": "signed_up"}}, sms)
    events = [{"user_id": user, "name": "signed_up", "event_id": f"join-{user}"} for user in USERS]
    for event in events:  # each user's own request, as an app sends them
        assert stack.call("POST", "/v1/events", {"events": [event]}, key=key)[0] == 202
    assert stack.call("POST", "/v1/events", {"events": events}, key=key)[0] == 202  # a client's retry of them all

    deadline = time.monotonic() + 60  # the window closes on a delayed queue message: real seconds
    while node_stats(stack, key, jid)["first"].get("sends", {}).get("sent", 0) < 5:
        assert time.monotonic() < deadline, node_stats(stack, key, jid)
        stack.call("POST", "/_local/clock", {"advance_seconds": 0})
        time.sleep(0.5)
    assert node_stats(stack, key, jid)["t"]["entered"] == 5  # the retry entered nobody again
    walk_the_journey(stack, key, jid)
