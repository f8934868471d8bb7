"""The events queue handler: exactly-once storage and counting under redelivery, races
and partial batch failures."""
from __future__ import annotations

import json
import uuid

import pytest

from chalicelib import clock
from chalicelib.events import repo, store
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


def dead_letters() -> list[tuple[dict, str]]:
    """(body, reason) of every message on the events DLQ (consumed)."""
    from chalicelib import aws
    from chalicelib.config import settings

    sqs, out = aws.sqs(), []
    url = aws.queue_url(settings.queue("events-dlq"))
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", []):
        for m in batch:
            out.append((json.loads(m["Body"]) if m["Body"].startswith("{") else m["Body"],
                        m.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def test_a_malformed_record_is_dead_lettered_with_its_reason_and_the_rest_are_stored(app, workspace):
    good = record(events_message(workspace.id, ("u1", "e1", "view", 0)), "good")
    bad = record({"type": "events", "workspace_id": workspace.id}, "bad")

    result = invoke(app, good, bad)

    assert result == {"batchItemFailures": []}  # never retried: it can never succeed
    assert stat(workspace.id, "u1", "view").event_count == 1
    [(body, reason)] = dead_letters()
    assert body == {"type": "events", "workspace_id": workspace.id}
    assert "received_at" in reason and "events" in reason


@pytest.mark.parametrize("body", ['{"type": "evnts", "workspace_id": "w"}', '{"workspace_id": "w", "events": []}', "not json"])
def test_an_unknown_message_type_is_never_read_as_events(app, body):
    assert invoke(app, {**record({}), "body": body}) == {"batchItemFailures": []}

    [(stored_body, reason)] = dead_letters()
    assert reason.startswith("not a message the events queue understands")


def test_a_lost_race_on_the_aggregate_is_retried_and_counts_once(app, workspace, monkeypatch):
    """Another writer bumps the aggregate between our read and our write."""
    invoke(app, record(events_message(workspace.id, ("u1", "e1", "purchase", 1))))
    original_read = repo.read_chunk
    calls = {"n": 0}

    def racing_read(workspace_id, chunk):
        result = original_read(workspace_id, chunk)
        calls["n"] += 1
        if calls["n"] == 1:  # a concurrent handler stores e9 right after our read
            store.store_message(EventsMessage.model_validate(
                events_message(workspace.id, ("u1", "e9", "purchase", 100))), clock.now())
        return result

    monkeypatch.setattr(repo, "read_chunk", racing_read)
    invoke(app, record(events_message(workspace.id, ("u1", "e2", "purchase", 2))))

    assert calls["n"] >= 2
    final = stat(workspace.id, "u1", "purchase")
    assert final.event_count == 3 and final.sums.as_dict() == {"amount": 103}


def test_a_message_that_keeps_losing_races_fails_for_redelivery(app, workspace, monkeypatch):
    from chalicelib import dynamo

    def always_lose(*args, **kwargs):
        raise dynamo.LostRace("simulated")

    monkeypatch.setattr(repo, "write_chunk", always_lose)
    monkeypatch.setattr(dynamo, "backoff", lambda attempt: None)

    result = invoke(app, record(events_message(workspace.id, ("u1", "e1", "view", 0)), "racer"))

    assert result == {"batchItemFailures": [{"itemIdentifier": "racer"}]}


def test_events_of_a_deleted_workspace_are_dropped(app):
    result = invoke(app, record(events_message("ws-gone", ("u1", "e1", "view", 0))))
    assert result == {"batchItemFailures": []}
    assert EventItem.count(user_pk("ws-gone", "u1")) == 0


def test_large_messages_are_split_into_chunks_and_all_stored(app, workspace):
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
    """Reads and writes are batched: per chunk at most two BatchGetItem (the second for the
    aggregates' pending events), BatchWriteItem for the events, one conditional PutItem per
    aggregate and per new profile; no transaction."""
    import botocore.client

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(client, operation, params):  # every client: boto3's and PynamoDB's
        calls.append(operation)
        return original(client, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    invoke(app, record(events_message(workspace.id, *[("u1", f"e{n}", "view", 0) for n in range(count)])))

    chunks = store.plan_chunks([QueuedEvent(user_id="u1", event_id=f"e{n}", name="view", ts="t", properties={})
                                for n in range(count)])
    assert calls.count("BatchGetItem") <= 1 + 2 * len(chunks)  # workspace settings, then per chunk
    assert calls.count("BatchWriteItem") == sum(-(-len(c) // 25) for c in chunks)
    assert calls.count("PutItem") == len(chunks) + 1  # the aggregate per chunk, the new profile once
    assert "TransactWriteItems" not in calls


def test_a_crash_after_counting_and_before_storing_counts_once_on_redelivery(app, workspace, monkeypatch):
    """The aggregate is written first and lists the events as pending; the redelivery
    finds them there and stores them without counting them again."""
    import botocore.exceptions

    from chalicelib import dynamo

    body = events_message(workspace.id, ("u1", "e1", "purchase", 10), ("u1", "e2", "purchase", 5))
    real_put = dynamo.batch_put

    def crash(table, items):
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="dynamodb")

    monkeypatch.setattr(dynamo, "batch_put", crash)
    assert invoke(app, record(body, "m")) == {"batchItemFailures": [{"itemIdentifier": "m"}]}
    assert stat(workspace.id, "u1", "purchase").event_count == 2  # counted, not stored
    assert EventItem.count(user_pk(workspace.id, "u1")) == 0

    monkeypatch.setattr(dynamo, "batch_put", real_put)
    invoke(app, record(events_message(workspace.id, ("u1", "e3", "purchase", 1))))  # another message in between
    invoke(app, record(body, "m"))  # the redelivery

    final = stat(workspace.id, "u1", "purchase")
    assert final.event_count == 3 and final.sums.as_dict() == {"amount": 16}
    assert EventItem.count(user_pk(workspace.id, "u1")) == 3
    invoke(app, record(events_message(workspace.id, ("u1", "e4", "purchase", 1))))
    # the next write of the aggregate drops the pending events that are stored now
    assert list(stat(workspace.id, "u1", "purchase").pending) == ["2026-11-20T00:00:00.000Z#e4"]


def test_a_client_retry_of_an_event_without_timestamp_is_stored_once(api, workspace, drain):
    """The server stamps the time; the retry, stamped later, finds the claim of the first."""
    from chalicelib import clock

    event = {"user_id": "retry", "name": "signup", "event_id": "client-1"}
    assert api.post("/v1/events", {"events": [event]}, key=workspace.admin_key).status == 202
    drain()
    clock.advance(5)
    assert api.post("/v1/events", {"events": [event]}, key=workspace.admin_key).status == 202
    drain()

    listed = api.get("/v1/profiles/retry/events", key=workspace.admin_key).json["items"]
    assert [e["event_id"] for e in listed] == ["client-1"]
    assert api.get("/v1/profiles/retry", key=workspace.admin_key).json["event_stats"]["signup"]["count"] == 1


def test_one_event_dynamodb_refuses_is_dead_lettered_alone_and_the_others_stored(app, workspace, caplog):
    """A value that got past the API (an old client, a redriven message) must not take the
    other users' events with it: the chunk is halved until the bad event stands alone."""
    events = [(f"user-{n}", f"e{n}", "view", 1) for n in range(300)]
    body = events_message(workspace.id, *events)
    body["events"][137]["properties"] = {"amount": 1e-200}  # below DynamoDB's number range

    assert invoke(app, record(body)) == {"batchItemFailures": []}

    assert sum(EventItem.count(user_pk(workspace.id, f"user-{n}")) for n in range(300)) == 299
    [(dead, reason)] = dead_letters()
    assert [e["event_id"] for e in dead["events"]] == ["e137"] and dead["workspace_id"] == workspace.id
    assert reason
    logged = [r for r in caplog.records if r.levelname == "ERROR" and r.getMessage() == "event dead-lettered"]
    assert len(logged) == 1 and logged[0].user_id == "user-137" and logged[0].event_id == "e137"
    assert logged[0].workspace_id == workspace.id


def test_concurrent_deliveries_of_the_same_and_of_other_messages_count_exactly(app, workspace):
    """A real race: threads deliver a message twice at once (an SQS duplicate) and other
    messages for the same users, released together, over several rounds."""
    import threading

    rounds, users = 6, 4
    for r in range(rounds):
        same = events_message(workspace.id, *[(f"u{u}", f"r{r}-dup-{u}", "purchase", 1) for u in range(users)])
        other = events_message(workspace.id, *[(f"u{u}", f"r{r}-other-{u}", "purchase", 2) for u in range(users)])
        bodies = [same, same, other]
        barrier = threading.Barrier(len(bodies))
        results: list[dict] = []

        def deliver(body: dict) -> None:
            barrier.wait()
            results.append(invoke(app, record(body)))

        threads = [threading.Thread(target=deliver, args=(b,)) for b in bodies]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(r == {"batchItemFailures": []} for r in results), results

    for u in range(users):
        final = stat(workspace.id, f"u{u}", "purchase")
        assert final.event_count == 2 * rounds and final.sums.as_dict() == {"amount": 3 * rounds}
        assert EventItem.count(user_pk(workspace.id, f"u{u}")) == 2 * rounds
