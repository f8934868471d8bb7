"""User ids with any character in paths: percent-decoded exactly once, in one place."""
from __future__ import annotations

from urllib.parse import quote

import pytest

ODD_IDS = ["张三", "john doe", "a/b", "50%", "#1", "a%2Fb", "50%25", "a+b", "x?y=1&z", "é"]


def path(user_id: str, tail: str = "") -> str:
    return f"/v1/profiles/{quote(user_id, safe='')}{tail}"


@pytest.mark.parametrize("user_id", ODD_IDS)
def test_a_user_created_by_an_event_is_read_tagged_listed_and_erased_by_its_encoded_id(api, workspace, drain, user_id):
    key = workspace.admin_key
    assert api.post("/v1/events", {"events": [{"user_id": user_id, "name": "signup", "event_id": "s1"}]},
                    key=key).status == 202
    drain()

    got = api.get(path(user_id), key=key)
    assert got.status == 200, got.json
    assert got.json["user_id"] == user_id and got.json["event_stats"]["signup"]["count"] == 1

    tagged = api.post(path(user_id, "/tags"), {"add": ["vip"]}, key=key)
    assert tagged.status == 200 and tagged.json == {"user_id": user_id, "tags": ["vip"]}

    events = api.get(path(user_id, "/events"), key=key)
    assert events.status == 200 and [e["user_id"] for e in events.json["items"]] == [user_id]

    assert api.put(path(user_id), {"attributes": {"plan": "pro"}}, key=key).json["user_id"] == user_id
    assert api.delete(path(user_id), key=key).status == 204
    assert api.get(path(user_id), key=key).status == 404


def test_percent_signs_are_decoded_once_so_similar_ids_stay_apart(api, workspace):
    key = workspace.admin_key
    for user_id, plan in (("a/b", "slash"), ("a%2Fb", "percent"), ("a%252Fb", "twice")):
        assert api.put(path(user_id), {"attributes": {"plan": plan}}, key=key).status == 200

    assert api.get(path("a/b"), key=key).json["attributes"] == {"plan": "slash"}
    assert api.get(path("a%2Fb"), key=key).json["attributes"] == {"plan": "percent"}
    assert api.get(path("a%252Fb"), key=key).json["attributes"] == {"plan": "twice"}
    listed = {p["user_id"] for p in api.get("/v1/profiles", key=key).json["items"]}
    assert listed == {"a/b", "a%2Fb", "a%252Fb"}


@pytest.mark.parametrize("user_id", [" abc", "abc ", "\u00a0abc", "a\tb"])
def test_a_path_user_id_breaking_the_rule_is_refused_in_words(api, workspace, user_id):
    r = api.put(path(user_id), {"attributes": {}}, key=workspace.admin_key)

    assert r.status == 400
    assert r.json["errors"][0]["field"] == "user_id"
    assert r.json["errors"][0]["message"].startswith("a user id is 1-128 characters")


def test_a_path_that_is_not_utf8_once_decoded_is_a_400(api, workspace):
    r = api.get("/v1/profiles/%FF%FE", key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"] == [
        {"field": "user_id", "message": "is not valid UTF-8 once percent-decoded"}]


def test_an_encoded_event_definition_name_is_decoded_too(api, workspace):
    key = workspace.admin_key
    api.put("/v1/event-definitions/app:open", {"properties": {}}, key=key)

    assert api.get("/v1/event-definitions/app%3Aopen", key=key).json["name"] == "app:open"
