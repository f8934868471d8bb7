"""End to end (issue 11): hostile input is refused at the API with the field and index and
good batches that follow are stored; user ids with any character work in real HTTP paths.
On the shared `make run` stack; each test makes its own workspace."""
from __future__ import annotations

from urllib.parse import quote

import pytest


pytestmark = pytest.mark.e2e

NUMBER_RULE = ("a number must be 0 or between 1e-130 and 9.9999999999999999999999999999999999999e125 "
               "in magnitude (positive or negative)")


@pytest.fixture
def key(stack):
    status, created = stack.call("POST", "/v1/workspaces", {"name": "Hostile", "timezone": "UTC"},
                                 key=stack.org_admin_key)
    assert status == 201, created
    return created["api_key"]["secret"]


def drain(stack) -> None:
    """Run every due schedule and drain the queues (the local stack's clock, not moved)."""
    assert stack.call("POST", "/_local/clock", {"advance_seconds": 0})[0] == 200


def profile_path(user_id: str, tail: str = "") -> str:
    return f"/v1/profiles/{quote(user_id, safe='')}{tail}"


@pytest.mark.parametrize("bad, field, message", [
    ({"properties": {"amount": 1e-200}}, "events[2].properties.amount", NUMBER_RULE),
    ({"properties": {"amount": 1e130}}, "events[2].properties.amount", NUMBER_RULE),
    ({"properties": {"cart": {"": 1}}}, 'events[2].properties.cart[""]', "an object key must not be empty"),
    ({"timestamp": "0001-01-01T00:00:00+14:00"}, "events[2].timestamp",
     "is out of range once converted to UTC (years 1-9999)"),
    ({"timestamp": "9999-12-31T23:59:59-12:00"}, "events[2].timestamp",
     "is out of range once converted to UTC (years 1-9999)"),
])
def test_a_bad_event_is_a_400_naming_it_and_the_next_good_batch_is_stored(stack, key, bad, field, message):
    good = [{"user_id": f"g{n}", "name": "purchase", "event_id": f"e{n}", "properties": {"amount": 2}} for n in range(4)]
    hostile = good[:2] + [{"user_id": "h", "name": "purchase", **bad}] + good[2:]

    status, problem = stack.call("POST", "/v1/events", {"events": hostile}, key=key)

    assert status == 400, problem
    assert problem["errors"] == [{"field": field, "message": message}]
    drain(stack)
    assert stack.call("GET", "/v1/profiles/g0", key=key)[0] == 404  # nothing of the refused request was queued

    assert stack.call("POST", "/v1/events", {"events": good}, key=key)[0] == 202
    drain(stack)
    for n in range(4):
        status, profile = stack.call("GET", f"/v1/profiles/g{n}", key=key)
        assert status == 200 and profile["event_stats"]["purchase"] == {
            "count": 1, "first_at": profile["event_stats"]["purchase"]["first_at"],
            "last_at": profile["event_stats"]["purchase"]["last_at"], "sums": {"amount": 2}}


@pytest.mark.parametrize("user_id", ["张三", "john doe", "a/b", "50%", "#1"])
def test_a_user_with_any_character_is_read_tagged_listed_and_erased_over_http(stack, key, user_id):
    assert stack.call("POST", "/v1/events", {"events": [{"user_id": user_id, "name": "signup", "event_id": "s1"}]},
                      key=key)[0] == 202
    drain(stack)

    status, profile = stack.call("GET", profile_path(user_id), key=key)
    assert status == 200, profile
    assert profile["user_id"] == user_id and profile["event_stats"]["signup"]["count"] == 1

    status, tags = stack.call("POST", profile_path(user_id, "/tags"), {"add": ["vip"]}, key=key)
    assert status == 200 and tags == {"user_id": user_id, "tags": ["vip"]}

    status, events = stack.call("GET", profile_path(user_id, "/events"), key=key)
    assert status == 200 and [e["user_id"] for e in events["items"]] == [user_id]

    assert stack.call("DELETE", profile_path(user_id), key=key)[0] == 204
    drain(stack)
    assert stack.call("GET", profile_path(user_id), key=key)[0] == 404
    assert stack.call("GET", profile_path(user_id, "/events"), key=key)[0] == 404  # an unknown user now


def test_a_user_id_with_a_leading_space_is_refused_in_the_path(stack, key):
    status, problem = stack.call("PUT", profile_path(" abc"), {"attributes": {}}, key=key)

    assert status == 400 and problem["errors"][0]["field"] == "user_id"
    assert problem["errors"][0]["message"].startswith("a user id is 1-128 characters")
