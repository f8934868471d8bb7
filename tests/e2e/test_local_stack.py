"""End to end: `make run`'s stack in a subprocess, driven over real HTTP."""
from __future__ import annotations

import time
import urllib.request

import pytest

from devstack.harness import StackProcess
from tests.e2e.support import dlq_command

pytestmark = pytest.mark.e2e


def Stack(state_dir, *, demo: bool = False) -> StackProcess:  # noqa: N802 - reads as a constructor
    return StackProcess(state_dir, demo=demo)


def poll(check, timeout: float = 30.0, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(interval)


def test_the_printed_org_admin_key_creates_a_workspace(stack):
    """`make run` with nothing in the environment: the key it prints is the one that works."""
    status, created = stack.call("POST", "/v1/workspaces", {"name": "Printed", "timezone": "UTC"},
                                 key=stack.org_admin_key)
    assert status == 201, created
    assert stack.call("GET", "/v1/workspace", key=created["api_key"]["secret"])[0] == 200
    assert stack.call("POST", "/v1/workspaces", {"name": "x"}, key="mab.not-the-key")[0] == 401


def test_events_over_http_become_aggregates(stack):
    status, created = stack.call("POST", "/v1/workspaces", {"name": "E2E", "timezone": "UTC"}, key=stack.org_admin_key)
    assert status == 201
    key = created["api_key"]["secret"]
    for batch in range(3):
        events = [{"user_id": f"u{n % 10}", "name": "purchase", "event_id": f"b{batch}-e{n}",
                   "properties": {"amount": 1}} for n in range(100)]
        assert stack.call("POST", "/v1/events", {"events": events}, key=key)[0] == 202
    # A client retry of the last request must not count twice.
    assert stack.call("POST", "/v1/events", {"events": events}, key=key)[0] == 202

    def counted():
        replies = [stack.call("GET", f"/v1/profiles/u{n}", key=key) for n in range(10)]
        return all(s == 200 and r["event_stats"].get("purchase", {}).get("count") == 30 for s, r in replies)

    assert poll(counted), stack.call("GET", "/v1/profiles/u0", key=key)
    status, profile = stack.call("GET", "/v1/profiles/u0", key=key)
    assert profile["event_stats"]["purchase"]["sums"] == {"amount": 30}


def test_unknown_routes_are_problem_404s_and_the_clock_moves(stack):
    status, body = stack.call("GET", "/v1/no-such-route")
    assert status == 404 and body["code"] == "not_found"
    before = stack.call("POST", "/_local/clock", {"advance_seconds": 0})[1]["now"]
    after = stack.call("POST", "/_local/clock", {"advance_seconds": 3600})[1]["now"]
    assert int(after[11:13]) == (int(before[11:13]) + 1) % 24
    assert stack.call("POST", "/_local/clock", {"advance_seconds": -5})[0] == 400


def test_state_persists_across_a_clean_restart(tmp_path):
    state_dir = tmp_path / "state"
    first = Stack(state_dir)
    _, created = first.call("POST", "/v1/workspaces", {"name": "Keep", "timezone": "UTC"}, key=first.org_admin_key)
    key = created["api_key"]["secret"]
    first.call("PUT", "/v1/profiles/kept", {"attributes": {"a": 1}}, key=key)
    first.call("POST", "/v1/events", {"events": [{"user_id": "kept", "name": "signup"}]}, key=key)
    first.call("POST", "/_local/clock", {"advance_seconds": 0})  # drains the queue
    moto = first.moto_endpoint
    first.stop()  # make reports the Ctrl-C as its own exit status; the stack's own words count
    assert "stopped." in first.output()
    with pytest.raises(OSError):  # Ctrl-C stopped moto's server too
        urllib.request.urlopen(moto + "/moto-api/", timeout=2)
    assert not (state_dir / "running.json").exists()  # a stopped stack is not offered to `make dlq`
    stopped = dlq_command(state_dir)
    assert stopped.returncode == 2 and "no local stack is running" in stopped.stderr

    second = Stack(state_dir)
    try:
        assert second.org_admin_key == first.org_admin_key  # kept in the state directory
        status, profile = second.call("GET", "/v1/profiles/kept", key=key)
        assert status == 200 and profile["attributes"] == {"a": 1}
        assert profile["event_stats"]["signup"]["count"] == 1
    finally:
        second.stop()


def test_the_demo_workspace_key_is_printed_and_works(stack):
    """`make run` seeds a demo workspace and prints its admin key (the shared stack is started so)."""
    demo = stack
    status, page = demo.call("GET", "/v1/profiles?limit=5", key=demo.demo_key)
    assert status == 200 and len(page["items"]) == 5
    providers = demo.call("GET", "/v1/providers", key=demo.demo_key)[1]["items"]
    assert [(p["name"], p["kind"]) for p in providers] == [("sandbox-email", "sandbox"), ("sandbox-sms", "sandbox")]
    [welcome] = demo.call("GET", "/v1/templates?status=approved", key=demo.demo_key)[1]["items"]
    status, preview = demo.call("POST", f"/v1/templates/{welcome['id']}/preview", {"user_id": "user-001"},
                                key=demo.demo_key)
    assert status == 200 and preview["rendered"]["body"].startswith("Hi ")
