"""Each journey component's semantics through the real handlers on moto, with an injected
clock: splits, judgments, waits in the workspace's and each user's time zone, pushes, the
lifecycle routes, a scheduled start and end, and one user's path."""
from __future__ import annotations

import json

import pytest

from chalicelib.journeys import repo as journeys_repo
from chalicelib.journeys import runtime, semantics
from chalicelib.providers import signing
from tests.handlers.journey_support import (START, Clock, audience, chain, close_entry_windows_at_once, publish,
                                           setup, stats)

VIP = [f"u{i:03d}" for i in range(10)]
BEIJING = [f"u{i:03d}" for i in range(10, 20)]
NEW_YORK = [f"u{i:03d}" for i in range(20, 30)]
USERS = {
    **{u: {"tags": ["vip"]} for u in VIP},
    **{u: {"attributes": {"city": "Beijing", "renewal_date": "2026-12-05"}} for u in BEIJING},
    **{u: {"attributes": {"timezone": "America/New_York"}} for u in NEW_YORK},
}


@pytest.fixture
def env(api, workspace, drain, monkeypatch):
    clock = Clock(monkeypatch)
    key = workspace.admin_key
    ids = setup(api, key, drain, USERS)
    return clock, key, ids


def test_ab_test_with_control_then_tag_and_audience_judgments(api, workspace, drain, env):
    clock, key, ids = env
    beijing = audience(api, key, drain, "beijing", [{"attribute": "city", "op": "eq", "value": "Beijing"}])
    jid = publish(api, key, chain(
        ("t", "trigger_audience", {"audience_id": ids["audience"]}),
        ("ab", "ab_test", {"variants": [{"id": "v1", "percent": 50}, {"id": "v2", "percent": 30}],
                           "control_percent": 20}),
        ("tj", "tag_judgment", {"tags": ["vip"]}),
        ("aj", "audience_judgment", {"audiences": [beijing, ids["audience"]]}),
        ("e1", "end", {}), ("e2", "end", {}), ("e3", "end", {}), ("e4", "end", {}), ("e5", "end", {}),
        ("ec", "end", {}),
        edges=[("t", "ab", None), ("ab", "tj", "v1"), ("ab", "aj", "v2"), ("ab", "ec", "control"),
               ("tj", "e1", "yes"), ("tj", "e2", "no"), ("aj", "e3", beijing), ("aj", "e4", ids["audience"]),
               ("aj", "e5", "other")]))
    drain()

    def variant(user: str) -> str:
        place = semantics.bucket(jid, "ab", user)
        return "v1" if place < 5000 else "v2" if place < 8000 else "control"
    by_variant = {v: [u for u in USERS if variant(u) == v] for v in ("v1", "v2", "control")}
    counted = stats(api, key, jid)
    assert counted["ab"]["passed"] == {v: len(us) for v, us in by_variant.items() if us}
    assert counted["ec"]["ended"] == len(by_variant["control"])
    assert counted["tj"]["passed"].get("yes", 0) == len([u for u in by_variant["v1"] if u in VIP])
    assert counted["tj"]["passed"].get("no", 0) == len([u for u in by_variant["v1"] if u not in VIP])
    # the first matching audience wins: Beijing users never reach the "all" branch
    assert counted["aj"]["passed"].get(beijing, 0) == len([u for u in by_variant["v2"] if u in BEIJING])
    assert counted["aj"]["passed"].get(ids["audience"], 0) == len([u for u in by_variant["v2"] if u not in BEIJING])
    assert "other" not in counted["aj"]["passed"]


def test_a_wait_until_noon_in_each_users_time_zone_splits_the_cohort_by_due_minute(api, workspace, drain, env):
    clock, key, ids = env  # 01:00 UTC: 09:00 in Shanghai (the workspace), 20:00 the day before in New York
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}),
                                  ("w", "wait", {"until_time": "12:00", "timezone": "user"}), ("e", "end", {})))
    drain()
    assert stats(api, key, jid)["w"]["waiting"] == 30
    clock.advance(hours=3, minutes=1)  # 12:01 in Shanghai
    clock.run_due()
    drain()
    counted = stats(api, key, jid)
    assert counted["w"]["passed"] == {"next": 20} and counted["w"]["waiting"] == 10
    clock.advance(hours=13)  # 12:01 in New York (EST, UTC-5)
    clock.run_due()
    drain()
    assert stats(api, key, jid)["e"]["ended"] == 30


def test_a_wait_until_a_date_in_a_profile_attribute_lets_users_without_it_through(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}),
                                  ("w", "wait", {"until_attribute": "renewal_date"}), ("e", "end", {})))
    drain()
    assert stats(api, key, jid)["w"]["waiting"] == len(BEIJING)
    clock.advance(days=5)  # 2026-12-05T01:00Z is after 00:00 in Shanghai that day
    clock.run_due()
    drain()
    assert stats(api, key, jid)["e"]["ended"] == 30


def test_an_attribute_judgment_reads_the_trigger_events_properties_of_a_manual_entry(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_manual", {}),
        ("a", "attribute_judgment", {"conditions": [{"property": "amount", "op": "gte", "value": 100}]}),
        ("y", "end", {}), ("n", "end", {}), edges=[("t", "a", None), ("a", "y", "yes"), ("a", "n", "no")]))
    entered = runtime.enter(workspace.id, jid, ["u001", "u002", "u003"], "chat-1", clock.at,
                            props={"u001": {"amount": 120}, "u002": {"amount": 80}})
    assert entered == 3
    runtime.enter(workspace.id, jid, ["u001", "u002", "u003"], "chat-1", clock.at)  # the same run again
    drain()
    assert stats(api, key, jid)["a"]["passed"] == {"yes": 1, "no": 2}


def test_a_webhook_posts_the_cohorts_users_signed(api, workspace, drain, env, httpserver):
    clock, key, ids = env
    secret = "s3cret-s3cret-s3cret"
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}),
                                  ("h", "webhook", {"url": httpserver.url_for("/hook"), "secret": secret}),
                                  ("e", "end", {})))
    drain()
    (request, _), = httpserver.log
    body = json.loads(request.data)
    assert sorted(u["user_id"] for u in body["users"]) == sorted(USERS) and body["node_id"] == "h"
    assert request.headers["Idempotency-Key"] == f"{body['cohort_id']}.h"
    assert signing.verify(secret, request.headers["X-MA-Timestamp"], request.data,
                          request.headers["X-MA-Signature"], now=clock.at)
    assert stats(api, key, jid)["e"]["ended"] == 30


def test_pause_holds_users_resume_continues_them_and_stop_ends_every_enrollment(api, workspace, drain, env):
    clock, key, ids = env
    graph = chain(("t", "trigger_audience", {"audience_id": ids["audience"]}), ("w", "wait", {"duration": "P1D"}),
                  ("e", "end", {}))
    jid = publish(api, key, graph)
    live = journeys_repo.live_count(workspace.id)
    drain()
    assert api.post(f"/v1/journeys/{jid}/resume", key=key).json["code"] == "invalid_state"
    paused = api.post(f"/v1/journeys/{jid}/pause", key=key)
    assert paused.status == 200 and paused.json["status"] == "paused"
    assert api.post(f"/v1/journeys/{jid}/pause", key=key).status == 409
    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    assert stats(api, key, jid)["e"]["entered"] == 0 and stats(api, key, jid)["w"]["waiting"] == 30  # held
    resumed = api.post(f"/v1/journeys/{jid}/resume", key=key)
    assert resumed.status == 200 and resumed.json["status"] == "running"
    drain()
    assert stats(api, key, jid)["e"]["ended"] == 30

    other = publish(api, key, graph)
    drain()
    stopped = api.post(f"/v1/journeys/{other}/stop", key=key)
    assert stopped.status == 200 and stopped.json["status"] == "ended"
    assert journeys_repo.live_count(workspace.id) == live  # the second journey's slot is back
    again = api.post(f"/v1/journeys/{other}/stop", key=key)
    assert again.status == 409 and again.json["code"] == "invalid_state"
    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    counted = stats(api, key, other)
    assert counted["w"]["exited"] == 30 and counted["w"]["waiting"] == 0 and counted["e"]["entered"] == 0


def test_a_scheduled_journey_starts_at_start_at_and_ends_at_end_at(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}), ("e", "end", {})),
                  start_at="2026-11-30T02:00:00Z", end_at="2026-12-01T00:00:00Z")
    assert api.get(f"/v1/journeys/{jid}", key=key).json["status"] == "scheduled"
    drain()
    assert stats(api, key, jid)["t"]["entered"] == 0
    clock.advance(hours=1, minutes=1)
    clock.run_due()
    drain()
    assert api.get(f"/v1/journeys/{jid}", key=key).json["status"] == "running"
    assert stats(api, key, jid)["e"]["ended"] == 30
    clock.advance(days=1)
    clock.run_due()
    assert api.get(f"/v1/journeys/{jid}", key=key).json["status"] == "ended"


def test_a_users_path_names_each_node_the_time_and_the_branch_taken(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_audience", {"audience_id": ids["audience"]}), ("tj", "tag_judgment", {"tags": ["vip"]}),
        ("sms", "sms", {"provider": "sms1", "template_id": ids["template"]}), ("y", "end", {}), ("n", "end", {}),
        edges=[("t", "tj", None), ("tj", "sms", "yes"), ("tj", "n", "no"), ("sms", "y", None)]))
    drain()
    path = api.get(f"/v1/journeys/{jid}/users/u001", key=key)
    assert path.status == 200, path.json
    (entry,) = path.json["entries"]
    assert [(s["node_id"], s.get("branch")) for s in entry["steps"]] == [
        ("t", None), ("tj", "yes"), ("sms", None), ("y", None)]
    assert entry["steps"][0]["at"] == "2026-11-30T01:00:00.000Z"
    assert [m["node_id"] for m in entry["messages"]] == ["sms"] and entry["messages"][0]["status"] != "queued"
    other = api.get(f"/v1/journeys/{jid}/users/u015", key=key).json["entries"][0]["steps"]
    assert [(s["node_id"], s.get("branch")) for s in other] == [("t", None), ("tj", "no"), ("n", None)]
    assert api.get(f"/v1/journeys/{jid}/users/nobody", key=key).json["entries"] == []


def test_a_kafka_push_produces_one_record_per_user_once(api, app, workspace, drain, env, kafka_broker):
    from kafka import KafkaConsumer

    from tests.handlers.journey_support import drain_repeating

    clock, key, ids = env
    topic = f"journey-{workspace.id}"
    put = api.put("/v1/providers/k1", {"channel": "webhook", "kind": "kafka",
                                       "settings": {"bootstrap_servers": kafka_broker.bootstrap}}, key=key)
    assert put.status == 200, put.json
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}),
                                  ("k", "kafka", {"provider": "k1", "topic": topic}), ("e", "end", {})))
    drain_repeating(app, times=2)

    consumer = KafkaConsumer(topic, bootstrap_servers=kafka_broker.bootstrap, auto_offset_reset="earliest",
                             group_id=None, consumer_timeout_ms=5_000)
    try:
        records = [json.loads(r.value) for r in consumer]
    finally:
        consumer.close()
    assert sorted(r["user_id"] for r in records) == sorted(USERS)
    assert {r["content"]["node_id"] for r in records} == {"k"} and records[0]["content"]["entry_id"] == "start"
    counted = stats(api, key, jid)
    assert counted["k"]["passed"] == {"next": 30} and counted["e"]["ended"] == 30


def test_a_running_journey_holds_its_audience_until_it_is_stopped(api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}), ("e", "end", {})))
    refused = api.delete(f"/v1/audiences/{ids['audience']}", key=key)
    assert refused.status == 409 and jid in refused.json["detail"]
    assert api.post(f"/v1/journeys/{jid}/stop", key=key).status == 200
    assert api.delete(f"/v1/audiences/{ids['audience']}", key=key).status == 204


def test_short_waits_go_back_on_the_steps_queue_with_a_delay_and_long_ones_to_the_due_work_index(monkeypatch):
    from datetime import timedelta

    from chalicelib.journeys import cohorts
    from chalicelib.scheduling import dispatch
    from tests.handlers.journey_support import START

    queued, scheduled = [], []
    monkeypatch.setattr(runtime, "enqueue", lambda messages, delays=None: queued.extend(zip(messages, delays)))
    monkeypatch.setattr(dispatch, "schedule", lambda kind, ws, item, at, now: scheduled.append((kind, item, at)))

    def parked(minutes: int) -> cohorts.Cohort:
        due = (START + timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return cohorts.Cohort("ws", "jny", 1, f"c{minutes}", "w", ("u1",), "start", "x", due_at=due)

    runtime.dispatch_children([parked(5), parked(15), parked(16), parked(60 * 48)], START)

    assert [(m.cohort_id, delay) for m, delay in queued] == [("c5", 300), ("c15", 900)]
    assert [(kind, item) for kind, item, _ in scheduled] == [("journey_cohort", "jny.c16"), ("journey_cohort", "jny.c2880")]


def test_the_users_reaching_a_generate_audience_node_become_its_audience(api, workspace, drain, env):
    from chalicelib.audiences import repo as audiences_repo
    from chalicelib.journeys import generated

    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_audience", {"audience_id": ids["audience"]}),
        ("split", "random_split", {"groups": [{"id": "a", "percent": 50}, {"id": "b", "percent": 50}]}),
        ("g", "generate_audience", {"name": "reached"}), ("e", "end", {}), ("other", "end", {}),
        edges=[("t", "split", None), ("split", "g", "a"), ("split", "other", "b"), ("g", "e", None)]))
    drain()
    clock.advance(minutes=2)
    clock.run_due()
    drain()

    reached = [u for u in USERS if semantics.bucket(jid, "split", u) < 5000]
    aud = generated.audience_id(jid, "g")
    shown = api.get(f"/v1/audiences/{aud}", key=key)
    assert shown.status == 200 and shown.json["status"] == "ready" and shown.json["name"] == "reached", shown.json
    assert aud in [a["id"] for a in api.get("/v1/audiences?limit=100", key=key).json["items"]]
    snapshot = audiences_repo.get_audience(workspace.id, aud).current_snapshot
    assert audiences_repo.members_in(workspace.id, snapshot, list(USERS)) == set(reached)


def test_a_webhook_that_fails_is_posted_again_with_the_same_key_and_users_move_once(api, workspace, drain, env,
                                                                                 httpserver):
    clock, key, ids = env
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("busy", status=503)
    httpserver.expect_request("/hook", method="POST").respond_with_data("ok")
    jid = publish(api, key, chain(("t", "trigger_audience", {"audience_id": ids["audience"]}),
                                  ("h", "webhook", {"url": httpserver.url_for("/hook")}), ("e", "end", {})))
    drain()
    (first, first_answer), (second, second_answer) = httpserver.log
    assert first_answer.status_code == 503 and second_answer.status_code == 200
    assert first.headers["Idempotency-Key"] == second.headers["Idempotency-Key"] and first.data == second.data
    counted = stats(api, key, jid)
    assert counted["h"]["entered"] == 30 and counted["e"]["ended"] == 30


def test_an_event_trigger_enters_the_users_whose_events_match_once_with_the_events_properties(api, workspace, drain,
                                                                                              env, monkeypatch):
    clock, key, ids = env
    close_entry_windows_at_once(monkeypatch)
    jid = publish(api, key, chain(
        ("t", "trigger_event", {"event": "purchase", "where": [{"property": "amount", "op": "gte", "value": 100}]}),
        ("a", "attribute_judgment", {"conditions": [{"property": "amount", "op": "gte", "value": 500}]}),
        ("big", "end", {}), ("small", "end", {}), edges=[("t", "a", None), ("a", "big", "yes"), ("a", "small", "no")]))
    events = [{"user_id": "u001", "name": "purchase", "event_id": "e1", "properties": {"amount": 600}},
              {"user_id": "u002", "name": "purchase", "event_id": "e2", "properties": {"amount": 150}},
              {"user_id": "u003", "name": "purchase", "event_id": "e3", "properties": {"amount": 50}},
              {"user_id": "u004", "name": "view", "event_id": "e4", "properties": {"amount": 900}}]
    for _ in range(2):  # a client retry of the same events enters nobody again
        assert api.post("/v1/events", {"events": events}, key=key).status == 202
        drain()

    r = api.get(f"/v1/journeys/{jid}/stats", key=key).json
    assert r["entries"]["entered"] == 2
    counted = {n["node_id"]: n for n in r["nodes"]}
    assert counted["a"]["passed"] == {"yes": 1, "no": 1} and counted["big"]["ended"] == 1
    assert api.post(f"/v1/journeys/{jid}/stop", key=key).status == 200
    assert api.post("/v1/events", {"events": [{**events[0], "event_id": "e9"}]}, key=key).status == 202
    drain()
    assert api.get(f"/v1/journeys/{jid}/stats", key=key).json["entries"]["entered"] == 2  # no listener once ended


def test_an_event_judgment_moves_a_user_on_as_soon_as_the_event_comes_and_the_rest_at_the_windows_end(
        api, workspace, drain, env):
    clock, key, ids = env
    jid = publish(api, key, chain(
        ("t", "trigger_audience", {"audience_id": ids["audience"]}),
        ("ej", "event_judgment", {"event": "login", "within": "P1D"}),
        ("tag", "tag", {"add": ["came_back"]}), ("y", "end", {}), ("n", "end", {}),
        edges=[("t", "ej", None), ("ej", "tag", "yes"), ("ej", "n", "no"), ("tag", "y", None)]))
    drain()
    assert stats(api, key, jid)["ej"]["waiting"] == 30
    logins = [{"user_id": u, "name": "login", "event_id": f"l-{u}", "properties": {}} for u in ("u001", "u002")]
    for _ in range(2):  # a client retry moves nobody twice
        assert api.post("/v1/events", {"events": logins}, key=key).status == 202
        drain()
    counted = stats(api, key, jid)
    assert counted["ej"]["passed"] == {"yes": 2} and counted["ej"]["waiting"] == 28 and counted["y"]["ended"] == 2
    from chalicelib.profiles import repo as profiles_repo
    assert {u for u, p in profiles_repo.read_profiles(workspace.id, list(USERS)).items()
            if "came_back" in p.tags} == {"u001", "u002"}

    clock.advance(days=1, minutes=1)
    clock.run_due()
    drain()
    late = [{"user_id": "u003", "name": "login", "event_id": "l-late", "properties": {}}]
    assert api.post("/v1/events", {"events": late}, key=key).status == 202
    drain()
    counted = stats(api, key, jid)
    assert counted["ej"]["passed"] == {"yes": 2, "no": 28} and counted["ej"]["waiting"] == 0
    assert counted["n"]["ended"] == 28 and counted["y"]["ended"] == 2
    paths = {u: [(s["node_id"], s.get("branch")) for s in
                 api.get(f"/v1/journeys/{jid}/users/{u}", key=key).json["entries"][0]["steps"]] for u in ("u001", "u005")}
    assert paths["u001"] == [("t", None), ("ej", "held"), ("ej", "yes"), ("tag", None), ("y", None)]
    assert paths["u005"] == [("t", None), ("ej", "held"), ("ej", "no"), ("n", None)]
