"""Audiences through the API: a rule source built as a snapshot, members, refresh, privacy."""
from __future__ import annotations

from chalicelib.audiences import rfm

RULE = {"type": "rules", "match": "all", "conditions": [
    {"attribute": "city", "op": "in", "value": ["Hangzhou", "Shanghai"]},
    {"any": [{"tag": "vip", "op": "has"}, {"attribute": "age", "op": "gte", "value": 40}]},
]}


def people(api, key) -> None:
    for user, city, age, vip in [("a1", "Hangzhou", 30, True), ("a2", "Shanghai", 45, False),
                                 ("a3", "Beijing", 50, True), ("a4", "Hangzhou", 20, False), ("a5", "Shanghai", 22, True)]:
        api.put(f"/v1/profiles/{user}", {"attributes": {"city": city, "age": age}}, key=key)
        if vip:
            api.post(f"/v1/profiles/{user}/tags", {"add": ["vip"]}, key=key)


def built(api, key, body, drain) -> dict:
    r = api.post("/v1/audiences", body, key=key)
    assert r.status == 202, r.json
    drain()  # a big table fans out over the audience-jobs queue
    got = api.get(f"/v1/audiences/{r.json['id']}", key=key)
    assert got.status == 200 and got.json["status"] == "ready", got.json
    return got.json


def members(api, key, audience_id, limit=100) -> list[str]:
    out, cursor = [], None
    while True:
        r = api.get(f"/v1/audiences/{audience_id}/members?limit={limit}" + (f"&cursor={cursor}" if cursor else ""), key=key)
        assert r.status == 200, r.json
        out += r.json["items"]
        cursor = r.json["next_cursor"]
        if not cursor:
            return out


def test_a_rule_audience_is_built_as_a_snapshot_of_exactly_its_members(api, workspace, drain):
    key = workspace.admin_key
    people(api, key)

    audience = built(api, key, {"name": "East coast VIPs", "visibility": "public", "source": RULE}, drain)

    assert audience["size"] == 3 and audience["snapshot"]["status"] == "ready"
    assert members(api, key, audience["id"]) == ["a1", "a2", "a5"]
    assert members(api, key, audience["id"], limit=1) == ["a1", "a2", "a5"]  # paged by cursor


def test_behaviour_conditions_read_events_only_as_needed(api, workspace, drain):
    key = workspace.admin_key
    people(api, key)
    events = [{"user_id": u, "name": "purchase", "properties": {"amount": amount}}
              for u, amount in [("a1", 50), ("a1", 80), ("a2", 500), ("a4", 5), ("a4", 5)]]
    api.post("/v1/events", {"events": events}, key=key)
    drain()
    rule = {"type": "rules", "match": "all", "conditions": [
        {"event": "purchase", "op": "did", "min_count": 2, "within_days": 30,
         "where": [{"attribute": "amount", "op": "gte", "value": 5}]}]}

    audience = built(api, key, {"name": "repeat buyers", "source": rule}, drain)

    assert members(api, key, audience["id"]) == ["a1", "a4"]


def test_a_refresh_builds_a_new_snapshot_and_the_old_one_served_until_then(api, workspace, drain):
    key = workspace.admin_key
    people(api, key)
    audience = built(api, key, {"name": "r", "source": RULE}, drain)
    first = audience["snapshot"]["id"]
    api.put("/v1/profiles/a4", {"attributes": {"age": 60}}, key=key)

    r = api.post(f"/v1/audiences/{audience['id']}/refresh", key=key)
    assert r.status == 202
    drain()

    again = api.get(f"/v1/audiences/{audience['id']}", key=key).json
    assert again["snapshot"]["id"] != first and again["size"] == 4
    assert members(api, key, audience["id"]) == ["a1", "a2", "a4", "a5"]


def test_a_private_audience_is_seen_by_its_creator_and_admins_only(api, workspace, drain):
    creator, other = workspace.key("operator"), workspace.key("operator")
    people(api, workspace.admin_key)
    audience = built(api, creator, {"name": "mine", "visibility": "private", "source": RULE}, drain)

    assert api.get(f"/v1/audiences/{audience['id']}", key=other).status == 404
    assert api.get(f"/v1/audiences/{audience['id']}/members", key=other).status == 404
    assert api.get(f"/v1/audiences/{audience['id']}", key=workspace.admin_key).status == 200


def test_bad_sources_are_400s_naming_the_path(api, workspace):
    key = workspace.admin_key
    bad = {"type": "rules", "match": "all", "conditions": [{"any": [{"attribute": "city", "op": "near", "value": 1}]}]}

    r = api.post("/v1/audiences", {"name": "x", "source": bad}, key=key)
    no_task = api.post("/v1/audiences", {"name": "x", "source": {"type": "task_result", "task_id": "t1",
                                                                 "statuses": ["failed"]}}, key=key)
    no_status = api.post("/v1/audiences", {"name": "x", "source": {"type": "task_result", "task_id": "t1",
                                                                   "statuses": ["lost"]}}, key=key)
    scores_with_thresholds = api.post("/v1/audiences", {"name": "x", "source": {
        "type": "rfm", "purchase_event": "purchase", "amount_property": "amount", "scores": {"r": [3, 5]},
        "thresholds": {"recency_days": 30, "frequency": 2, "monetary": 100}}}, key=key)
    incomplete = api.post("/v1/audiences", {"name": "x", "source": {"type": "rfm", "purchase_event": "purchase"}},
                          key=key)
    unknown = api.post("/v1/audiences", {"name": "x", "source": {"type": "magic"}}, key=key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "source.conditions[0].any[0].op"
    assert no_task.status == 400 and no_task.json["errors"][0]["field"] == "source.task_id"
    assert no_status.status == 400 and no_status.json["errors"][0]["field"] == "source.statuses[0]"
    assert scores_with_thresholds.status == 400
    assert scores_with_thresholds.json["errors"][0]["field"] == "source.scores"
    assert incomplete.status == 400 and incomplete.json["errors"][0]["field"].startswith("source.")
    assert unknown.status == 400 and unknown.json["errors"][0]["field"] == "source.type"
    assert api.get("/v1/audiences/audnone", key=key).status == 404


def _purchases(api, key, drain) -> None:
    people(api, key)
    events = [{"user_id": u, "name": "purchase", "properties": {"amount": amount}}
              for u, amount in [("a1", 50), ("a1", 80), ("a1", 300), ("a2", 500), ("a4", 5)]]
    events += [{"user_id": "a3", "name": "view"}, {"user_id": "a5", "name": "view"}]
    api.post("/v1/events", {"events": events}, key=key)
    drain()


def test_an_rfm_audience_by_thresholds_selects_its_segments(api, workspace, drain):
    key = workspace.admin_key
    _purchases(api, key, drain)
    source = {"type": "rfm", "purchase_event": "purchase", "amount_property": "amount",
              "thresholds": {"recency_days": 30, "frequency": 2, "monetary": 100},
              "segments": ["important_value", "important_development"]}

    audience = built(api, key, {"name": "valuable", "source": source}, drain)

    # a1: recent, 3 purchases, 430 -> important_value; a2: recent, 1, 500 -> important_development;
    # a4: recent, 1, 5 -> general_development; a3 and a5 never purchased
    assert members(api, key, audience["id"]) == ["a1", "a2"]
    assert audience["distribution"] == {**dict.fromkeys(rfm.SEGMENTS, 0), "important_value": 1,
                                        "important_development": 1, "general_development": 1}


def test_an_rfm_audience_by_quintile_scores_is_built_in_two_passes(api, workspace, drain):
    key = workspace.admin_key
    _purchases(api, key, drain)
    source = {"type": "rfm", "purchase_event": "purchase", "amount_property": "amount",
              "segments": ["important_value", "general_retention"]}

    audience = built(api, key, {"name": "quintiles", "source": source}, drain)

    # Three purchasers, all recent (recency 0 for everyone: all score R 1). F: a1 3, a2 1, a4 1:
    # a1 has 2 of 3 strictly worse -> 1 + 10 // 3 = 4 (high); a2, a4 -> 1. M: a4 5 -> 1,
    # a1 430 -> 1 + 5 // 3 = 2, a2 500 -> 1 + 10 // 3 = 4 (high).
    assert audience["distribution"] == {**dict.fromkeys(rfm.SEGMENTS, 0), "general_retention": 1,
                                        "important_recovery": 1, "general_recovery": 1}
    assert members(api, key, audience["id"]) == ["a1"]


def test_an_aipl_audience_selects_users_by_their_highest_stage(api, workspace, drain):
    key = workspace.admin_key
    _purchases(api, key, drain)

    purchase = built(api, key, {"name": "p", "source": {"type": "aipl", "stages": ["purchase"]}}, drain)
    loyal = built(api, key, {"name": "l", "source": {"type": "aipl", "stages": ["loyalty"]}}, drain)
    aware = built(api, key, {"name": "a", "source": {"type": "aipl", "stages": ["awareness"]}}, drain)

    assert members(api, key, loyal["id"]) == ["a1"]  # 2+ purchases in 90 days
    assert members(api, key, purchase["id"]) == ["a2", "a4"]
    assert members(api, key, aware["id"]) == ["a3", "a5"]
    assert aware["distribution"] == {"awareness": 2, "interest": 0, "purchase": 2, "loyalty": 1}


def test_audiences_list_oldest_first_with_filters_and_privacy(api, workspace, drain):
    key, operator = workspace.admin_key, workspace.key("operator")
    people(api, key)
    one = built(api, key, {"name": "East VIPs", "visibility": "public", "source": RULE}, drain)
    two = built(api, key, {"name": "Loyal", "visibility": "public",
                           "source": {"type": "aipl", "stages": ["loyalty"]}}, drain)
    mine = built(api, key, {"name": "admin's own", "visibility": "private", "source": RULE}, drain)

    everything = api.get("/v1/audiences?limit=2", key=key).json
    rest = api.get(f"/v1/audiences?cursor={everything['next_cursor']}", key=key).json
    assert [a["id"] for a in everything["items"] + rest["items"]] == [one["id"], two["id"], mine["id"]]
    assert [a["id"] for a in api.get("/v1/audiences?name=vip", key=key).json["items"]] == [one["id"]]
    assert [a["id"] for a in api.get("/v1/audiences?type=aipl", key=key).json["items"]] == [two["id"]]
    assert [a["id"] for a in api.get("/v1/audiences?status=ready", key=operator).json["items"]] == [one["id"], two["id"]]
    assert api.get("/v1/audiences?status=done", key=key).status == 400


def test_a_deleted_audience_is_gone_for_readers_at_once(api, workspace, drain):
    key = workspace.admin_key
    people(api, key)
    audience = built(api, key, {"name": "temp", "source": RULE}, drain)

    assert api.delete(f"/v1/audiences/{audience['id']}", key=key).status == 204
    assert api.get(f"/v1/audiences/{audience['id']}", key=key).status == 404
    assert api.delete(f"/v1/audiences/{audience['id']}", key=key).status == 404
    assert api.get("/v1/audiences", key=key).json["items"] == []


def test_an_estimate_is_exact_on_a_small_table_and_scaled_from_a_random_segment_otherwise(api, workspace, monkeypatch):
    from chalicelib.audiences import repo, service

    key = workspace.admin_key
    people(api, key)
    monkeypatch.setattr(repo, "table_item_count", lambda: 10)
    exact = api.post("/v1/audiences/estimate", {"source": RULE}, key=key)
    assert exact.status == 200 and exact.json == {"size": 3, "exact": True, "sampled_fraction": 1.0}

    monkeypatch.setattr(repo, "table_item_count", lambda: 4 * service.ESTIMATE_SAMPLE_ITEMS)
    sampled = api.post("/v1/audiences/estimate", {"source": RULE}, key=key).json
    assert sampled["exact"] is False and sampled["sampled_fraction"] == 0.25 and sampled["size"] % 4 == 0
    assert api.post("/v1/audiences/estimate", {"source": {"type": "rules", "conditions": [{"tag": "x", "op": "is"}]}},
                    key=key).status == 400
