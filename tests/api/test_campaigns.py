"""Campaigns through the routes: sub-campaigns, stages, the ancestor rule, deletes, filters."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest

from chalicelib import clock
from chalicelib.campaigns import repo


@pytest.fixture
def now(monkeypatch):
    moment = {"at": datetime(2026, 11, 26, 12, 0, tzinfo=timezone.utc)}
    monkeypatch.setattr(clock, "now", lambda: moment["at"])
    return moment


def make(ws, **body):
    r = ws.api.post("/v1/campaigns", {"name": "Double 11", **body}, key=ws.admin_key)
    assert r.status == 201, r.json
    return r.json


def test_a_campaign_runs_from_its_start_and_ends_at_its_end(workspace, now):
    made = make(workspace, start_at="2026-11-27T00:00:00+08:00", end_at="2026-11-28T00:00:00+08:00")
    assert made["stage"] == "planning" and made["start_at"] == "2026-11-26T16:00:00.000Z"
    now["at"] = datetime(2026, 11, 26, 17, 0, tzinfo=timezone.utc)
    assert workspace.api.get(f"/v1/campaigns/{made['id']}", key=workspace.admin_key).json["stage"] == "running"
    now["at"] = datetime(2026, 11, 27, 17, 0, tzinfo=timezone.utc)
    assert workspace.api.get(f"/v1/campaigns/{made['id']}", key=workspace.admin_key).json["stage"] == "ended"


def test_a_campaign_with_an_active_task_or_journey_is_running(workspace, now):
    made = make(workspace)
    assert made["stage"] == "planning"
    assert repo.adjust_active(workspace.id, made["id"], 1)
    assert workspace.api.get(f"/v1/campaigns/{made['id']}", key=workspace.admin_key).json["stage"] == "running"


def test_an_end_before_the_start_is_refused_naming_end_at(workspace, now):
    r = workspace.api.post("/v1/campaigns", {"name": "x", "start_at": "2026-12-02T00:00:00Z",
                                             "end_at": "2026-12-01T00:00:00Z"}, key=workspace.admin_key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "end_at"
    r = workspace.api.post("/v1/campaigns", {"name": "x", "start_at": "tomorrow"}, key=workspace.admin_key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "start_at"


def test_sub_campaigns_list_under_their_parent(workspace, now):
    parent = make(workspace, name="Spring")
    kids = [make(workspace, name=f"Spring week {i}", parent_id=parent["id"]) for i in range(3)]
    make(workspace, name="Autumn")
    listed = workspace.api.get(f"/v1/campaigns?parent_id={parent['id']}", key=workspace.admin_key).json["items"]
    assert [x["id"] for x in listed] == [k["id"] for k in kids]
    named = workspace.api.get("/v1/campaigns?name=autumn", key=workspace.admin_key).json["items"]
    assert [x["name"] for x in named] == ["Autumn"]


def test_a_campaign_can_never_become_its_own_ancestor(workspace, now):
    a = make(workspace, name="A")
    b = make(workspace, name="B", parent_id=a["id"])
    c = make(workspace, name="C", parent_id=b["id"])
    for parent in (a["id"], c["id"]):
        r = workspace.api.put(f"/v1/campaigns/{a['id']}", {"name": "A", "parent_id": parent}, key=workspace.admin_key)
        assert r.status == 400 and r.json["errors"][0]["field"] == "parent_id", r.json
    r = workspace.api.put(f"/v1/campaigns/{c['id']}", {"name": "C", "parent_id": a["id"]}, key=workspace.admin_key)
    assert r.status == 200 and r.json["parent_id"] == a["id"]


def test_two_concurrent_reparents_cannot_make_a_cycle_together(workspace, now):
    a, b = make(workspace, name="A"), make(workspace, name="B")
    barrier = threading.Barrier(2)
    results = {}

    def move(child, parent):
        barrier.wait()
        results[child["id"]] = workspace.api.put(f"/v1/campaigns/{child['id']}",
                                                 {"name": child["name"], "parent_id": parent["id"]},
                                                 key=workspace.admin_key).status

    threads = [threading.Thread(target=move, args=(a, b)), threading.Thread(target=move, args=(b, a))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results.values()) == [200, 400], results
    stored = repo.all_of(workspace.id)
    assert not (stored[a["id"]].parent_id == b["id"] and stored[b["id"]].parent_id == a["id"])


def test_deleting_a_campaign_with_a_running_sub_campaign_or_task_is_refused(workspace, now):
    parent = make(workspace, name="P")
    child = make(workspace, name="Child", parent_id=parent["id"], start_at="2026-11-01T00:00:00Z")
    r = workspace.api.delete(f"/v1/campaigns/{parent['id']}", key=workspace.admin_key)
    assert r.status == 409 and r.json["code"] == "in_use" and child["id"] in r.json["detail"]
    idle = make(workspace, name="Idle")
    repo.adjust_active(workspace.id, idle["id"], 1)
    assert workspace.api.delete(f"/v1/campaigns/{idle['id']}", key=workspace.admin_key).status == 409
    repo.adjust_active(workspace.id, idle["id"], -1)
    assert workspace.api.delete(f"/v1/campaigns/{idle['id']}", key=workspace.admin_key).status == 204


def test_deleting_a_campaign_takes_its_idle_sub_campaigns(workspace, now):
    parent = make(workspace, name="P")
    child = make(workspace, name="Child", parent_id=parent["id"])
    assert workspace.api.delete(f"/v1/campaigns/{parent['id']}", key=workspace.admin_key).status == 204
    assert workspace.api.get(f"/v1/campaigns/{child['id']}", key=workspace.admin_key).status == 404


def test_a_stale_version_is_refused(workspace, now):
    made = make(workspace)
    r = workspace.api.put(f"/v1/campaigns/{made['id']}", {"name": "renamed", "version": 1}, key=workspace.admin_key)
    assert r.status == 200 and r.json["version"] == 2
    r = workspace.api.put(f"/v1/campaigns/{made['id']}", {"name": "again", "version": 1}, key=workspace.admin_key)
    assert r.status == 409 and r.json["code"] == "stale_version"


def test_viewers_read_and_cannot_write(workspace, now):
    viewer = workspace.key("viewer")
    made = make(workspace)
    assert workspace.api.get(f"/v1/campaigns/{made['id']}", key=viewer).status == 200
    assert workspace.api.post("/v1/campaigns", {"name": "x"}, key=viewer).status == 403
