"""The events queue handler: exactly-once storage and counting under redelivery, races
and partial batch failures."""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib import clock
from chalicelib.events import store
from chalicelib.events.messages import EventsMessage, QueuedEvent
from chalicelib.models.events import EventItem
from chalicelib.models.profiles import EventStatItem, user_pk


def record(body: dict, message_id: str | None = None) -> dict:
    return {
        "messageId": message_id or str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ma-local-events",
        "awsRegion": "us-east-1",
    }


def events_message(workspace_id: str, *events: tuple[str, str, str, float]) -> dict:
    return EventsMessage(workspace_id=workspace_id, received_at=clock.iso(clock.now()), events=[
        QueuedEvent(user_id=u, event_id=e, name=n, ts="2026-11-20T00:00:00.000Z", properties={"amount": a})
        for u, e, n, a in events
    ]).model_dump(mode="json")


def invoke(app, *records: dict) -> dict:
    from devstack.lambda_shapes import FakeContext

    return app.handler_map["on_events"]({"Records": list(records)}, FakeContext("on_events"))


def stat(workspace_id: str, user_id: str, name: str) -> EventStatItem:
    return EventStatItem.get(user_pk(workspace_id, user_id), "stat#" + name)


def test_a_redelivered_message_stores_and_counts_nothing_twice(app, workspace):
    body = events_message(workspace.id, ("u1", "e1", "purchase", 10), ("u1", "e2", "purchase", 5), ("u2", "e3", "view", 0))

    first = invoke(app, record(body, "m-1"))
    again = invoke(app, record(body, "m-1"))
    copy_with_new_id = invoke(app, record(body))

    assert first == again == copy_with_new_id == {"batchItemFailures": []}
    assert EventItem.count(user_pk(workspace.id, "u1")) == 2
    purchase = stat(workspace.id, "u1", "purchase")
    assert purchase.event_count == 2 and purchase.sums.as_dict() == {"amount": 15}
    assert stat(workspace.id, "u2", "view").event_count == 1


def test_a_partly_stored_message_stores_only_the_rest_on_redelivery(app, workspace):
    invoke(app, record(events_message(workspace.id, ("u1", "e1", "purchase", 1))))

    invoke(app, record(events_message(workspace.id, ("u1", "e1", "purchase", 1), ("u1", "e2", "purchase", 2))))

    assert stat(workspace.id, "u1", "purchase").event_count == 2
    assert stat(workspace.id, "u1", "purchase").sums.as_dict() == {"amount": 3}


def test_a_bad_record_is_reported_alone_and_the_rest_are_stored(app, workspace):
    good = record(events_message(workspace.id, ("u1", "e1", "view", 0)), "good")
    bad = record({"type": "events", "workspace_id": workspace.id}, "bad")

    result = invoke(app, good, bad)

    assert result == {"batchItemFailures": [{"itemIdentifier": "bad"}]}
    assert stat(workspace.id, "u1", "view").event_count == 1


def test_a_lost_race_on_the_aggregate_is_retried_and_counts_once(app, workspace, monkeypatch):
    """Another writer bumps the aggregate between our read and our write."""
    invoke(app, record(events_message(workspace.id, ("u1", "e1", "purchase", 1))))
    original_read = store._read
    calls = {"n": 0}

    def racing_read(workspace_id, chunk):
        result = original_read(workspace_id, chunk)
        calls["n"] += 1
        if calls["n"] == 1:  # a concurrent handler stores e9 right after our read
            store.store_message(EventsMessage.model_validate(
                events_message(workspace.id, ("u1", "e9", "purchase", 100))), clock.now())
        return result

    monkeypatch.setattr(store, "_read", racing_read)
    invoke(app, record(events_message(workspace.id, ("u1", "e2", "purchase", 2))))

    assert calls["n"] >= 2
    final = stat(workspace.id, "u1", "purchase")
    assert final.event_count == 3 and final.sums.as_dict() == {"amount": 103}


def test_a_message_that_keeps_losing_races_fails_for_redelivery(app, workspace, monkeypatch):
    from chalicelib import dynamo

    def always_lose(*args, **kwargs):
        raise dynamo.LostRace("simulated")

    monkeypatch.setattr(store, "_write", always_lose)
    monkeypatch.setattr(dynamo, "backoff", lambda attempt: None)

    result = invoke(app, record(events_message(workspace.id, ("u1", "e1", "view", 0)), "racer"))

    assert result == {"batchItemFailures": [{"itemIdentifier": "racer"}]}


def test_events_of_a_deleted_workspace_are_dropped(app):
    result = invoke(app, record(events_message("ws-gone", ("u1", "e1", "view", 0))))
    assert result == {"batchItemFailures": []}
    assert EventItem.count(user_pk("ws-gone", "u1")) == 0


def test_large_messages_are_split_into_transactions_of_at_most_100_items(app, workspace):
    events = [(f"user-{n}", f"e{n}", "view", 0) for n in range(250)]

    invoke(app, record(events_message(workspace.id, *events)))

    assert sum(EventItem.count(user_pk(workspace.id, f"user-{n}")) for n in range(250)) == 250
    assert stat(workspace.id, "user-249", "view").event_count == 1


def test_redelivered_erase_is_harmless(app, workspace, api, drain):
    api.post("/v1/events", {"events": [{"user_id": "gone", "name": "view"}]}, key=workspace.admin_key)
    drain()
    body = {"type": "erase_user", "workspace_id": workspace.id, "user_id": "gone"}

    assert invoke(app, record(body)) == invoke(app, record(body)) == {"batchItemFailures": []}

    assert EventItem.count(user_pk(workspace.id, "gone")) == 0
    assert api.get("/v1/profiles/gone", key=workspace.admin_key).status == 404


@pytest.mark.parametrize("count", [1, 499])
def test_requests_per_chunk_stay_constant(app, workspace, count, monkeypatch):
    """Reads and writes are batched: one BatchGetItem and one transaction per chunk."""
    from chalicelib import aws

    calls: list[str] = []
    client = aws.dynamodb()
    original = client._make_api_call

    def counting(operation, params):
        calls.append(operation)
        return original(operation, params)

    monkeypatch.setattr(client, "_make_api_call", counting)
    invoke(app, record(events_message(workspace.id, *[("u1", f"e{n}", "view", 0) for n in range(count)])))

    chunks = len(store.plan_chunks([QueuedEvent(user_id="u1", event_id=f"e{n}", name="view", ts="t", properties={})
                                    for n in range(count)]))
    assert calls.count("BatchGetItem") == 1 + chunks  # workspace settings, then one per chunk
