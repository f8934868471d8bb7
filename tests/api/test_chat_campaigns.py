"""Chat campaigns: every rule of the reference through the HTTP routes, one test each."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from chalicelib import clock

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)
START, END = "2026-12-02T09:00:00Z", "2026-12-09T09:00:00Z"


@pytest.fixture
def now(monkeypatch):
    moment = {"at": NOW}
    monkeypatch.setattr(clock, "now", lambda: moment["at"])
    return moment


def published_journey(api, key, trigger="trigger_manual", publish=True):
    assert api.put("/v1/providers/sms1", {"channel": "sms", "kind": "sandbox"}, key=key).status == 200
    t = api.post("/v1/templates", {"channel": "sms", "name": "hi", "body": "Hi"}, key=key).json
    api.post(f"/v1/templates/{t['id']}/approve", key=key)
    j = api.post("/v1/journeys", {"name": "chat flow"}, key=key).json
    config = {"trigger_manual": {}, "trigger_event": {"event": "signup"}}[trigger]
    graph = {"nodes": [{"id": "t", "type": trigger, "config": config},
                       {"id": "s", "type": "sms", "config": {"provider": "sms1", "template_id": t["id"]}},
                       {"id": "e", "type": "end", "config": {}}],
             "edges": [{"from": "t", "to": "s"}, {"from": "s", "to": "e"}], "revision": j["revision"]}
    assert api.put(f"/v1/journeys/{j['id']}/graph", graph, key=key).status == 200
    if publish:
        r = api.post(f"/v1/journeys/{j['id']}/publish", key=key)
        assert r.status == 200, r.json
    return j["id"]


@pytest.fixture
def setup(workspace, api, now):
    key = workspace.admin_key
    audience = api.post("/v1/audiences", {"name": "everyone", "visibility": "public", "source": {
        "type": "rules", "match": "all", "conditions": [{"attribute": "city", "op": "exists"}]}}, key=key).json
    return {"key": key, "journey_id": published_journey(api, key), "audience_id": audience["id"]}


def body(setup, **over):
    return {"name": "Weekend chat", "journey_id": setup["journey_id"], "audience_id": setup["audience_id"],
            "start_at": START, "end_at": END, "plan": {"every": 1, "unit": "day"}, **over}


def create(api, setup, **over):
    r = api.post("/v1/chat-campaigns", body(setup, **over), key=setup["key"])
    assert r.status == 201, r.json
    return r.json


def refused(reply, status, field=None):
    assert reply.status == status, reply.json
    if field:
        assert any(e["field"] == field for e in reply.json["errors"]), reply.json
    return reply.json


def test_a_chat_campaign_is_pending_until_its_start(api, setup):
    assert create(api, setup)["status"] == "pending"


def test_the_name_takes_at_most_60_characters(api, setup):
    refused(api.post("/v1/chat-campaigns", body(setup, name="x" * 61), key=setup["key"]), 400, "name")
    assert create(api, setup, name="x" * 60)["name"] == "x" * 60


def test_the_description_takes_at_most_90_characters(api, setup):
    refused(api.post("/v1/chat-campaigns", body(setup, description="d" * 91), key=setup["key"]), 400, "description")


def test_the_journey_must_be_published(api, setup, workspace):
    draft = published_journey(api, setup["key"], publish=False)
    answer = refused(api.post("/v1/chat-campaigns", body(setup, journey_id=draft), key=setup["key"]), 400, "journey_id")
    assert "published" in answer["errors"][0]["message"]


def test_the_journey_must_start_with_a_manual_trigger(api, setup):
    by_event = published_journey(api, setup["key"], trigger="trigger_event")
    answer = refused(api.post("/v1/chat-campaigns", body(setup, journey_id=by_event), key=setup["key"]), 400,
                     "journey_id")
    assert "manual trigger" in answer["errors"][0]["message"]


def test_the_start_must_be_later_than_now(api, setup):
    refused(api.post("/v1/chat-campaigns", body(setup, start_at="2026-12-01T08:59:00Z"), key=setup["key"]), 400,
            "start_at")


def test_the_start_must_be_earlier_than_the_end(api, setup):
    refused(api.post("/v1/chat-campaigns", body(setup, end_at=START), key=setup["key"]), 400, "end_at")


def test_only_an_in_progress_chat_campaign_can_be_suspended(api, setup, now):
    chat = create(api, setup)
    answer = refused(api.post(f"/v1/chat-campaigns/{chat['id']}/suspend", key=setup["key"]), 409)
    assert "only an in_progress" in answer["detail"]
    now["at"] = datetime(2026, 12, 3, tzinfo=timezone.utc)
    assert api.post(f"/v1/chat-campaigns/{chat['id']}/suspend", key=setup["key"]).json["status"] == "paused"


def test_only_a_pending_or_paused_chat_campaign_can_be_modified(api, setup, now):
    chat = create(api, setup)
    assert api.put(f"/v1/chat-campaigns/{chat['id']}", body(setup, name="Renamed"), key=setup["key"]).status == 200
    now["at"] = datetime(2026, 12, 3, tzinfo=timezone.utc)
    answer = refused(api.put(f"/v1/chat-campaigns/{chat['id']}", body(setup, name="Again", start_at="2026-12-04T00:00:00Z"),
                             key=setup["key"]), 409)
    assert "pending or paused" in answer["detail"]


def test_resuming_a_paused_chat_campaign_needs_a_new_start_time(api, setup, now):
    chat = create(api, setup)
    now["at"] = datetime(2026, 12, 3, tzinfo=timezone.utc)
    api.post(f"/v1/chat-campaigns/{chat['id']}/suspend", key=setup["key"])
    refused(api.put(f"/v1/chat-campaigns/{chat['id']}", body(setup), key=setup["key"]), 400, "start_at")
    resumed = api.put(f"/v1/chat-campaigns/{chat['id']}", body(setup, start_at="2026-12-04T00:00:00Z"),
                      key=setup["key"])
    assert resumed.status == 200 and resumed.json["status"] == "pending"


def test_an_in_progress_chat_campaign_cannot_be_deleted(api, setup, now):
    chat = create(api, setup)
    now["at"] = datetime(2026, 12, 3, tzinfo=timezone.utc)
    answer = refused(api.delete(f"/v1/chat-campaigns/{chat['id']}", key=setup["key"]), 409)
    assert "cannot be deleted" in answer["detail"]
    api.post(f"/v1/chat-campaigns/{chat['id']}/suspend", key=setup["key"])
    assert api.delete(f"/v1/chat-campaigns/{chat['id']}", key=setup["key"]).status == 204


def test_the_plan_unit_is_minute_hour_or_day(api, setup):
    refused(api.post("/v1/chat-campaigns", body(setup, plan={"every": 1, "unit": "week"}), key=setup["key"]), 400,
            "plan.unit")


def test_chat_campaigns_list_with_filters(api, setup, now):
    first = create(api, setup, name="Alpha chat")
    create(api, setup, name="Beta chat", start_at="2026-12-05T00:00:00Z")
    key = setup["key"]
    assert [c["id"] for c in api.get("/v1/chat-campaigns?name=alpha", key=key).json["items"]] == [first["id"]]
    assert len(api.get(f"/v1/chat-campaigns?journey_id={setup['journey_id']}", key=key).json["items"]) == 2
    assert len(api.get(f"/v1/chat-campaigns?audience_id={setup['audience_id']}", key=key).json["items"]) == 2
    now["at"] = datetime(2026, 12, 3, tzinfo=timezone.utc)
    running = api.get("/v1/chat-campaigns?status=in_progress", key=key).json["items"]
    assert [c["id"] for c in running] == [first["id"]]
