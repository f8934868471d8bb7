"""Journeys through the HTTP API: drafts from strategy templates, edits with optimistic
revisions, undo/redo, validation, publish and its live-journey limit, delete, roles."""
from __future__ import annotations

import pytest

from chalicelib.journeys import service


def create(api, key, **body):
    r = api.post("/v1/journeys", {"name": "J", **body}, key=key)
    assert r.status == 201, r.json
    return r.json


def setup_channels(api, key, drain):
    """A sandbox SMS and email provider, approved templates, and a ready audience."""
    for name, channel in (("sms1", "sms"), ("mail1", "email")):
        assert api.put(f"/v1/providers/{name}", {"channel": channel, "kind": "sandbox", "settings": {}},
                       key=key).status == 200
    ids = {}
    for channel, body in (("sms", {"body": "Hi"}), ("email", {"subject": "s", "html": "<p>x</p>", "text": "x"})):
        r = api.post("/v1/templates", {"channel": channel, "name": channel, **body}, key=key)
        assert r.status == 201, r.json
        assert api.post(f"/v1/templates/{r.json['id']}/approve", key=key).status == 200
        ids[channel] = r.json["id"]
    api.put("/v1/profiles/u1", {"attributes": {"city": "Hangzhou"}}, key=key)
    r = api.post("/v1/audiences", {"name": "all", "visibility": "public", "source": {
        "type": "rules", "match": "all", "conditions": [{"attribute": "city", "op": "exists"}]}}, key=key)
    assert r.status == 202, r.json
    drain()
    ids["audience"] = r.json["id"]
    return ids


FILL = {
    "provider": lambda node, ids: "sms1" if node["type"] == "sms" else "mail1",
    "template_id": lambda node, ids: ids["sms" if node["type"] == "sms" else "email"],
    "audience_id": lambda node, ids: ids["audience"],
    "url": lambda node, ids: "https://hooks.example.com/coupon",
}


def test_every_strategy_template_lists_what_is_left_to_fill_and_validates_once_filled(api, workspace, drain):
    key = workspace.admin_key
    ids = setup_channels(api, key, drain)
    listed = api.get("/v1/journey-templates", key=workspace.key("viewer"))
    assert listed.status == 200
    templates = listed.json["items"]
    assert {t["id"] for t in templates} >= {"new_member_first_order", "first_purchase_repurchase",
                                             "high_value_low_frequency", "welcome_series", "abandoned_cart"}
    for template in templates:
        journey = create(api, key, template=template["id"])
        jid = journey["id"]
        todo_nodes = {n["id"] for n in template["nodes"] if n["todo"]}
        problems = api.post(f"/v1/journeys/{jid}/validate", key=key).json["problems"]
        assert todo_nodes <= {p["node_id"] for p in problems}, template["id"]

        nodes = [{"id": n["id"], "type": n["type"],
                  "config": {**n["config"], **{f: FILL[f](n, ids) for f in n["todo"]}}} for n in template["nodes"]]
        put = api.put(f"/v1/journeys/{jid}/graph", {"nodes": nodes, "edges": template["edges"],
                                                    "revision": journey["revision"]}, key=key)
        assert put.status == 200, put.json
        checked = api.post(f"/v1/journeys/{jid}/validate", key=key)
        assert checked.status == 200 and checked.json == {"valid": True, "problems": []}, (template["id"], checked.json)


def test_an_edit_with_a_stale_revision_gets_409_and_changes_nothing(api, workspace):
    key = workspace.key("operator")
    j = create(api, key, template="high_value_low_frequency")
    jid = j["id"]
    first = api.post(f"/v1/journeys/{jid}/edits", {"op": "insert", "revision": j["revision"], "after": "trigger",
                                                   "node": {"type": "wait", "config": {"duration": "P1D"}}}, key=key)
    assert first.status == 200, first.json
    assert first.json["revision"] == j["revision"] + 1 and len(first.json["created"]) == 1

    stale = api.post(f"/v1/journeys/{jid}/edits", {"op": "add_ends", "revision": j["revision"]}, key=key)
    assert stale.status == 409 and stale.json["code"] == "stale_revision"
    stale_put = api.put(f"/v1/journeys/{jid}/graph", {"nodes": [], "edges": [], "revision": j["revision"]}, key=key)
    assert stale_put.status == 409
    assert api.get(f"/v1/journeys/{jid}", key=key).json["graph"] == first.json["graph"]


def test_undo_and_redo_move_through_the_draft_history(api, workspace):
    key = workspace.key("operator")
    j = create(api, key, template="high_value_low_frequency")
    jid, original = j["id"], j["graph"]
    cut = api.post(f"/v1/journeys/{jid}/edits", {"op": "cut", "revision": j["revision"], "node_id": "end"}, key=key)
    assert cut.status == 200 and len(cut.json["graph"]["nodes"]) == 2 and cut.json["can_undo"]
    undone = api.post(f"/v1/journeys/{jid}/edits", {"op": "undo", "revision": cut.json["revision"]}, key=key)
    assert undone.status == 200 and undone.json["graph"] == original and undone.json["can_redo"]
    redone = api.post(f"/v1/journeys/{jid}/edits", {"op": "redo", "revision": undone.json["revision"]}, key=key)
    assert redone.json["graph"] == cut.json["graph"]
    again = api.post(f"/v1/journeys/{jid}/edits", {"op": "redo", "revision": redone.json["revision"]}, key=key)
    assert again.status == 409 and again.json["code"] == "nothing_to_redo"


def test_deleting_a_node_alone_is_refused_and_copy_paste_gives_new_ids(api, workspace):
    key = workspace.key("operator")
    j = create(api, key, template="abandoned_cart")
    jid = j["id"]
    alone = api.post(f"/v1/journeys/{jid}/edits", {"op": "delete", "revision": j["revision"], "node_id": "reminder"},
                     key=key)
    assert alone.status == 400 and "delete_subtree" in alone.json["errors"][0]["message"]
    gone = api.post(f"/v1/journeys/{jid}/edits", {"op": "delete_subtree", "revision": j["revision"],
                                                  "node_id": "reminder"}, key=key)
    assert gone.status == 200
    copied = api.post(f"/v1/journeys/{jid}/edits", {"op": "copy", "revision": gone.json["revision"],
                                                    "node_id": "bought", "downstream": False}, key=key)
    assert copied.status == 200 and copied.json["revision"] == gone.json["revision"]
    pasted = api.post(f"/v1/journeys/{jid}/edits", {"op": "paste", "revision": gone.json["revision"],
                                                    "fragment": copied.json["fragment"], "after": "bought",
                                                    "branch": "no"}, key=key)
    assert pasted.status == 200, pasted.json
    new_id = pasted.json["created"][0]
    node = next(n for n in pasted.json["graph"]["nodes"] if n["id"] == new_id)
    assert node["config"] == {"event": "purchase", "within": "PT1H"} and new_id != "bought"


def test_publish_is_refused_with_the_problems_naming_their_nodes(api, workspace):
    key = workspace.key("operator")
    j = create(api, key, template="first_purchase_repurchase")
    r = api.post(f"/v1/journeys/{j['id']}/publish", key=key)
    assert r.status == 400
    assert {"node_id": "trigger", "field": "config.audience_id", "message": "is required"} in r.json["problems"]
    assert any(e["field"] == "nodes[reminder_sms].config.template_id" for e in r.json["errors"])
    assert api.get(f"/v1/journeys/{j['id']}", key=key).json["status"] == "draft"


def ready_journey(api, key):
    j = create(api, key)
    graph = {"nodes": [{"id": "t", "type": "trigger_manual", "config": {}}, {"id": "e", "type": "end", "config": {}}],
             "edges": [{"from": "t", "to": "e"}], "revision": j["revision"]}
    assert api.put(f"/v1/journeys/{j['id']}/graph", graph, key=key).status == 200
    return j["id"]


def test_publish_freezes_a_version_and_the_101st_live_journey_is_refused(api, new_workspace, monkeypatch):
    ws = new_workspace()
    key = ws.key("operator")
    monkeypatch.setattr(service, "MAX_LIVE", 3)  # the limit is a parameter of the same counter as 100
    journeys = [ready_journey(api, key) for _ in range(4)]
    for jid in journeys[:3]:
        r = api.post(f"/v1/journeys/{jid}/publish", key=key)
        assert r.status == 200 and r.json["status"] == "running" and r.json["published_version"] == 1
    refused = api.post(f"/v1/journeys/{journeys[3]}/publish", key=key)
    assert refused.status == 409 and refused.json["code"] == "limit_exceeded"
    assert "at most 3 journeys" in refused.json["detail"]
    assert api.get(f"/v1/journeys/{journeys[3]}", key=key).json["status"] == "draft"
    again = api.post(f"/v1/journeys/{journeys[0]}/publish", key=key)  # a new version takes no new slot
    assert again.status == 200 and again.json["published_version"] == 2
    assert api.delete(f"/v1/journeys/{journeys[0]}", key=key).status == 409  # live: stop it first


@pytest.mark.slow  # 303 requests: about a minute on the shared machine
def test_the_hundred_and_first_publish_gets_limit_exceeded(api, new_workspace):
    ws = new_workspace()
    key = ws.key("operator")
    for _ in range(service.MAX_LIVE):
        assert api.post(f"/v1/journeys/{ready_journey(api, key)}/publish", key=key).status == 200
    r = api.post(f"/v1/journeys/{ready_journey(api, key)}/publish", key=key)
    assert r.status == 409 and r.json["code"] == "limit_exceeded" and "100" in r.json["detail"]


def test_a_journey_starting_later_is_scheduled(api, workspace):
    key = workspace.key("operator")
    jid = ready_journey(api, key)
    assert api.put(f"/v1/journeys/{jid}", {"name": "later", "start_at": "2999-01-01T00:00:00+08:00"},
                   key=key).status == 200
    r = api.post(f"/v1/journeys/{jid}/publish", key=key)
    assert r.status == 200 and r.json["status"] == "scheduled" and r.json["start_at"] == "2998-12-31T16:00:00.000Z"


@pytest.mark.parametrize("body, field", [
    ({"name": "x", "entry": {"reentry": "once", "min_interval": "P7D"}}, "entry"),
    ({"name": "x", "entry": {"reentry": "unlimited", "min_interval": "7 days"}}, "entry.min_interval"),
    ({"name": "x", "goal": {"event": "buy", "within": "P1M"}}, "goal.within"),
    ({"name": "x", "start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"}, "body"),
    ({"name": "x", "messages_per_second": "10"}, "messages_per_second"),
    ({"name": "x", "template": "nope"}, "template"),
    ({"name": ""}, "name"),
])
def test_bad_settings_are_refused_naming_the_field(api, workspace, body, field):
    r = api.post("/v1/journeys", body, key=workspace.key("operator"))
    assert r.status == 400 and r.json["errors"][0]["field"] == field, r.json


def test_list_filters_by_status_and_name_and_viewers_read_but_do_not_edit(api, new_workspace):
    ws = new_workspace()
    key, viewer = ws.key("operator"), ws.key("viewer")
    create(api, key, name="Spring sale")
    jid = ready_journey(api, key)
    api.post(f"/v1/journeys/{jid}/publish", key=key)
    running = api.get("/v1/journeys?status=running", key=viewer)
    assert running.status == 200 and [j["id"] for j in running.json["items"]] == [jid]
    assert [j["name"] for j in api.get("/v1/journeys?name=SPRING", key=viewer).json["items"]] == ["Spring sale"]
    assert api.post("/v1/journeys", {"name": "x"}, key=viewer).status == 403
    assert api.post(f"/v1/journeys/{jid}/edits", {"op": "add_ends", "revision": 1}, key=viewer).status == 403


def test_a_draft_can_be_deleted_and_is_then_gone(api, workspace):
    key = workspace.key("operator")
    j = create(api, key, template="welcome_series")
    assert api.delete(f"/v1/journeys/{j['id']}", key=key).status == 204
    assert api.get(f"/v1/journeys/{j['id']}", key=key).status == 404
    assert api.post(f"/v1/journeys/{j['id']}/validate", key=key).status == 404


@pytest.mark.parametrize("body", [
    {"op": "insert", "revision": 1, "node": {"type": "teleport"}, "after": "trigger"},
    {"op": "fly", "revision": 1},
    {"op": "connect", "revision": "1", "from": "a", "to": "b"},
    {"nodes": [{"id": "a"}]},
    [],
])
def test_malformed_edits_are_400(api, workspace, body):
    j = create(api, workspace.key("operator"))
    r = api.post(f"/v1/journeys/{j['id']}/edits", body, key=workspace.key("operator"))
    assert r.status == 400, r.json
