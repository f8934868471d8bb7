"""POST /v1/events, a user's events, and event definitions."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest


def test_events_are_accepted_then_stored_and_aggregated_by_the_queue_handler(api, workspace, drain):
    key = workspace.admin_key
    r = api.post("/v1/events", {"events": [
        {"user_id": "u1", "name": "purchase", "timestamp": "2026-11-20T10:00:00+08:00", "properties": {"amount": 10.5}},
        {"user_id": "u1", "name": "purchase", "timestamp": "2026-11-21T10:00:00+08:00", "properties": {"amount": 20}},
        {"user_id": "u1", "name": "app_open"},
    ]}, key=key)
    assert r.status == 202
    assert r.json["accepted"] == 3 and len(set(r.json["event_ids"])) == 3
    assert api.get("/v1/profiles/u1", key=key).status == 404  # not yet: it goes through the queue

    assert drain() == 1

    stats = api.get("/v1/profiles/u1", key=key).json["event_stats"]
    assert stats["purchase"] == {"count": 2, "first_at": "2026-11-20T02:00:00.000Z",
                                 "last_at": "2026-11-21T02:00:00.000Z", "sums": {"amount": 30.5}}
    assert stats["app_open"]["count"] == 1


def test_the_same_event_id_is_stored_and_counted_once(api, workspace, drain):
    key = workspace.admin_key
    event = {"user_id": "u2", "name": "purchase", "event_id": "order-1", "properties": {"amount": 5}}
    api.post("/v1/events", {"events": [event, event]}, key=key)
    api.post("/v1/events", {"events": [event]}, key=key)
    drain()

    assert api.get("/v1/profiles/u2", key=key).json["event_stats"]["purchase"]["count"] == 1
    assert len(api.get("/v1/profiles/u2/events", key=key).json["items"]) == 1


def test_events_list_newest_first_filtered_by_name_with_cursor(api, workspace, drain):
    key = workspace.admin_key
    base = datetime(2026, 11, 1, tzinfo=timezone.utc)
    events = [{"user_id": "u3", "name": "view" if n % 2 else "click", "event_id": f"e{n}",
               "timestamp": (base + timedelta(hours=n)).isoformat()} for n in range(6)]
    api.post("/v1/events", {"events": events}, key=key)
    drain()

    everything = api.get("/v1/profiles/u3/events", key=key).json["items"]
    assert [e["event_id"] for e in everything] == ["e5", "e4", "e3", "e2", "e1", "e0"]
    page1 = api.get("/v1/profiles/u3/events?name=view&limit=2", key=key).json
    assert [e["event_id"] for e in page1["items"]] == ["e5", "e3"]
    page2 = api.get(f"/v1/profiles/u3/events?name=view&limit=2&cursor={page1['next_cursor']}", key=key).json
    assert [e["event_id"] for e in page2["items"]] == ["e1"]


def test_expired_events_are_not_listed(api, workspace, drain):
    key = workspace.admin_key
    api.patch("/v1/workspace", {"event_retention_days": 1}, key=key)
    old = (datetime.now(timezone.utc) - timedelta(days=3)).isoformat()
    api.post("/v1/events", {"events": [{"user_id": "u4", "name": "view", "timestamp": old},
                                       {"user_id": "u4", "name": "view"}]}, key=key)
    drain()

    assert len(api.get("/v1/profiles/u4/events", key=key).json["items"]) == 1
    assert api.get("/v1/profiles/u4", key=key).json["event_stats"]["view"]["count"] == 2


def test_event_validation_names_the_field_and_enqueues_nothing(api, workspace, drain):
    key = workspace.admin_key
    r = api.post("/v1/events", {"events": [
        {"user_id": "ok", "name": "fine"},
        {"user_id": "u", "name": "bad name"},
        {"user_id": "u", "name": "x", "timestamp": "2026-11-20T10:00:00"},
        {"name": "x"},
    ]}, key=key)
    assert r.status == 400
    assert {e["field"] for e in r.json["errors"]} == {"events[1].name", "events[2].timestamp", "events[3].user_id"}
    assert drain() == 0


def test_event_batch_limits(api, workspace):
    key = workspace.admin_key
    assert api.post("/v1/events", {"events": []}, key=key).status == 400
    many = [{"user_id": "u", "name": "x"}] * 501
    r = api.post("/v1/events", {"events": many}, key=key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "events"
    future = (datetime.now(timezone.utc) + timedelta(days=2)).isoformat()
    r = api.post("/v1/events", {"events": [{"user_id": "u", "name": "x", "timestamp": future}]}, key=key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "events[0].timestamp"


def test_viewers_cannot_post_events(api, workspace):
    r = api.post("/v1/events", {"events": [{"user_id": "u", "name": "x"}]}, key=workspace.key("viewer"))
    assert r.status == 403


def test_events_of_one_workspace_never_reach_another(api, workspace, new_workspace, drain):
    other = new_workspace("Other")
    api.post("/v1/events", {"events": [{"user_id": "shared-id", "name": "purchase", "event_id": "same"}]}, key=other.admin_key)
    api.post("/v1/events", {"events": [{"user_id": "shared-id", "name": "purchase", "event_id": "same"}]}, key=workspace.admin_key)
    drain()

    for ws in (workspace, other):
        assert api.get("/v1/profiles/shared-id", key=ws.admin_key).json["event_stats"]["purchase"]["count"] == 1


def test_event_definitions_declare_property_types_that_ingestion_checks(api, workspace):
    key = workspace.admin_key
    r = api.post("/v1/event-definitions", {"name": "purchase", "description": "an order",
                                           "properties": {"amount": "number", "sku": "string"}}, key=key)
    assert r.status == 201 and r.json["properties"] == {"amount": "number", "sku": "string"}
    assert api.post("/v1/event-definitions", {"name": "purchase"}, key=key).json["code"] == "already_exists"
    assert [d["name"] for d in api.get("/v1/event-definitions", key=key).json["items"]] == ["purchase"]

    r = api.post("/v1/events", {"events": [{"user_id": "u", "name": "purchase", "properties": {"amount": "ten"}}]}, key=key)

    assert r.status == 400 and r.json["errors"] == [
        {"field": "events[0].properties.amount", "message": "expected number as defined for purchase"}]
    ok = api.post("/v1/events", {"events": [{"user_id": "u", "name": "purchase", "properties": {"amount": 10, "extra": 1}}]}, key=key)
    assert ok.status == 202


def test_event_definition_property_types_are_validated(api, workspace):
    r = api.post("/v1/event-definitions", {"name": "x", "properties": {"a": "money"}}, key=workspace.admin_key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "properties.a"


def test_a_queue_refusal_is_a_503_to_retry(api, workspace, monkeypatch):
    from chalicelib import aws

    sqs = aws.sqs()
    monkeypatch.setattr(sqs, "send_message_batch", lambda **kw: {
        "Successful": [], "Failed": [{"Id": "0", "SenderFault": False, "Code": "InternalError", "Message": "x"}]})

    r = api.post("/v1/events", {"events": [{"user_id": "u", "name": "x"}]}, key=workspace.admin_key)

    assert r.status == 503 and r.json["code"] == "unavailable"


# hostile input: refused at the API with the field and index, never a 202 that cannot be stored

NUMBER_RULE = ("a number must be 0 or between 1e-130 and 9.9999999999999999999999999999999999999e125 "
               "in magnitude (positive or negative)")


def good_batch(user_id: str) -> dict:
    return {"events": [{"user_id": user_id, "name": "purchase", "event_id": f"good-{n}",
                        "properties": {"amount": n + 1}} for n in range(3)]}


@pytest.mark.parametrize("properties, field, message", [
    ({"amount": 1e-200}, "events[1].properties.amount", NUMBER_RULE),
    ({"amount": 1e130}, "events[1].properties.amount", NUMBER_RULE),
    ({"cart": {"items": [{"price": 1}, {"price": -1e-131}]}}, "events[1].properties.cart.items[1].price", NUMBER_RULE),
    ({"id": 10 ** 39 + 1}, "events[1].properties.id", "a number holds at most 38 significant digits (40 given)"),
    ({"": 1}, 'events[1].properties[""]', "an object key must not be empty"),
    ({"cart": {"x" * 256: 1}}, "events[1].properties.cart[", "an object key holds at most 255 bytes as UTF-8"),
])
def test_a_value_dynamodb_would_refuse_is_a_400_naming_it_and_nothing_is_queued(api, workspace, drain,
                                                                                properties, field, message):
    key = workspace.admin_key
    r = api.post("/v1/events", {"events": [{"user_id": "h1", "name": "ok"},
                                           {"user_id": "h1", "name": "bad", "properties": properties}]}, key=key)

    assert r.status == 400, r.json
    assert [e["field"][:len(field)] for e in r.json["errors"]] == [field]
    assert r.json["errors"][0]["message"] == message
    assert drain() == 0

    assert api.post("/v1/events", good_batch("h1"), key=key).status == 202
    drain()
    assert api.get("/v1/profiles/h1", key=key).json["event_stats"]["purchase"]["count"] == 3


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_json_numbers_that_are_not_finite_are_refused(api, workspace, drain, literal):
    raw = ('{"events": [{"user_id": "h2", "name": "x", "properties": {"v": %s}}]}' % literal).encode()
    r = api.post("/v1/events", raw=raw, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "events[0].properties.v"
    assert drain() == 0


def test_properties_nested_deeper_than_32_levels_are_refused(api, workspace):
    deep: dict = {"v": 1}
    for _ in range(32):
        deep = {"a": deep}
    r = api.post("/v1/events", {"events": [{"user_id": "h3", "name": "x", "properties": deep}]}, key=workspace.admin_key)

    assert r.status == 400
    assert r.json["errors"][0]["message"] == "objects and lists nest at most 32 levels deep"


def test_json_nested_beyond_what_the_parser_takes_is_a_400(api, workspace):
    raw = b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"

    r = api.post("/v1/events", raw=raw, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"] == [{"field": "body", "message": "the JSON nests too deeply"}]


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_timestamp_that_overflows_in_utc_is_a_400_naming_it(api, workspace, drain, timestamp):
    key = workspace.admin_key
    r = api.post("/v1/events", {"events": [{"user_id": "h4", "name": "x"},
                                           {"user_id": "h4", "name": "x", "timestamp": timestamp}]}, key=key)

    assert r.status == 400
    assert r.json["errors"] == [{"field": "events[1].timestamp",
                                 "message": "is out of range once converted to UTC (years 1-9999)"}]
    assert drain() == 0
    assert api.post("/v1/events", good_batch("h4"), key=key).status == 202


def test_a_declared_datetime_property_that_overflows_is_a_400_not_a_500(api, workspace):
    key = workspace.admin_key
    api.post("/v1/event-definitions", {"name": "visit", "properties": {"at": "datetime"}}, key=key)

    r = api.post("/v1/events", {"events": [{"user_id": "h5", "name": "visit",
                                            "properties": {"at": "0001-01-01T00:00:00+14:00"}}]}, key=key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "events[0].properties.at"


@pytest.mark.parametrize("user_id", [" abc", "abc ", "\u3000abc", "a\x01b"])
def test_a_user_id_breaking_the_rule_is_refused_not_trimmed(api, workspace, drain, user_id):
    r = api.post("/v1/events", {"events": [{"user_id": user_id, "name": "x"}]}, key=workspace.admin_key)

    assert r.status == 400
    assert r.json["errors"][0]["field"] == "events[0].user_id"
    assert r.json["errors"][0]["message"].startswith("a user id is 1-128 characters")
    assert drain() == 0


def test_a_lone_surrogate_escape_is_a_400_naming_the_field(api, workspace, drain):
    raw = b'{"events": [{"user_id": "u\\ud800", "name": "x"}]}'

    r = api.post("/v1/events", raw=raw, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "events[0].user_id"
    assert drain() == 0


@pytest.mark.parametrize("raw, words", [
    (b'{"events": [', "line 1, column 13: a value was expected"),
    (b'{"events": [}', "line 1, column 13: a value was expected"),
    (b'{"events" []}', "line 1, column 11: a colon was expected"),
    (b'{"events": []} x', "line 1, column 16: there is more after the JSON value"),
    (b'{events: []}', "line 1, column 2: a key in double quotes was expected"),
    (b'\xff\xfe', "the body is not UTF-8 text (bad byte at position 0)"),
])
def test_broken_json_is_explained_in_words(api, workspace, raw, words):
    r = api.post("/v1/events", raw=raw, key=workspace.admin_key)

    assert r.status == 400
    assert r.json["errors"][0]["field"] == "body" and r.json["errors"][0]["message"].endswith(words)
    assert "Expecting" not in r.json["detail"] and "char " not in r.json["detail"]
