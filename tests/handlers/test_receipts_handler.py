"""The receipts queue handler (through app.handler_map, on moto): receipts are applied
once under redelivery, wait for a message recorded late, suppress dead addresses; the
sandbox posts its own receipts when the clock reaches them; chat replies become events."""
from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib import aws, clock, counters
from chalicelib.config import settings
from chalicelib.receipts import applier
from chalicelib.sending import repo_fatigue
from tests.receipts_support import put_sandbox, sent_message, status_of

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def at(monkeypatch):
    def move(seconds: float = 0) -> datetime:
        moment = START + timedelta(seconds=seconds)
        monkeypatch.setattr(clock, "now", lambda: moment)
        return moment

    move(0)
    return move


@pytest.fixture
def ws() -> str:
    return "ws_" + uuid.uuid4().hex[:12]


def receipts_record(ws: str, *receipts: dict[str, Any], provider: str = "sbx", attempt: int = 0,
                    message_id: str | None = None) -> dict[str, Any]:
    body = {"type": "receipts", "workspace_id": ws, "provider": provider, "receipts": list(receipts), "attempt": attempt}
    return {"messageId": message_id or str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ma-local-receipts",
            "awsRegion": "us-east-1"}


def invoke(app, *records: dict[str, Any]) -> dict[str, Any]:
    from devstack.lambda_shapes import FakeContext

    return app.handler_map["on_receipts"]({"Records": list(records)}, FakeContext("on_receipts"))


def queued(queue: str = "receipts") -> list[dict[str, Any]]:
    url = aws.queue_url(settings.queue(queue))
    found = []
    while messages := aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                AttributeNames=["All"]).get("Messages", []):
        found += messages
        aws.sqs().delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return found


def test_the_same_batch_handled_twice_changes_and_counts_once(app, ws, at):
    key = sent_message(ws, "sbx", "p-1", now=START)
    sent_message(ws, "sbx", "p-2", user_id="u2", now=START)
    batch = [receipts_record(ws, {"provider_message_id": "p-1", "status": "delivered", "at": "2026-11-26T09:00:05Z"},
                             {"provider_message_id": "p-1", "status": "opened", "at": "2026-11-26T09:00:09Z"}),
             receipts_record(ws, {"provider_message_id": "p-2", "status": "failed", "at": "2026-11-26T09:00:05Z",
                                  "reason": "unreachable"})]

    first, second = invoke(app, *batch), invoke(app, *batch)

    assert first == second == {"batchItemFailures": []}
    assert status_of(key) == "opened"
    counted = counters.read(ws, "task#t1")
    assert {k: counted[k] for k in ("targeted", "sent", "delivered", "opened", "failed")} == {
        "targeted": 2, "sent": 2, "delivered": 1, "opened": 1, "failed": 1}


def test_a_receipt_before_its_message_is_put_back_with_a_delay_then_applied(app, ws, at, monkeypatch):
    put_back: list[tuple[Any, int]] = []
    monkeypatch.setattr(applier.queue, "enqueue", lambda messages, delay_seconds=0: put_back.extend(
        (m, delay_seconds) for m in messages))  # SQS delays run on the wall clock: look at what is queued
    early = receipts_record(ws, {"provider_message_id": "p-late", "status": "delivered", "at": "2026-11-26T09:00:05Z"})

    invoke(app, early)
    [(again, delay)] = put_back
    key = sent_message(ws, "sbx", "p-late", now=START)
    invoke(app, receipts_record(ws, *again.model_dump(mode="json")["receipts"], attempt=again.attempt))

    assert (again.attempt, delay) == (1, applier.RETRY_BASE_SECONDS)
    assert status_of(key) == "delivered"


def test_a_receipt_that_never_finds_its_message_is_dropped_with_a_log_line(app, ws, at, caplog):
    last = receipts_record(ws, {"provider_message_id": "p-ghost", "status": "delivered", "at": "2026-11-26T09:00:05Z"},
                           attempt=applier.MAX_ATTEMPTS - 1)

    with caplog.at_level(logging.WARNING):
        assert invoke(app, last) == {"batchItemFailures": []}

    assert queued() == []
    assert any("no message with this provider message id" in r.getMessage() for r in caplog.records)


def test_a_bounce_suppresses_the_address_even_when_the_status_cannot_move(app, ws, at):
    key = sent_message(ws, "sbx", "p-1", channel="email", now=START)
    invoke(app, receipts_record(ws, {"provider_message_id": "p-1", "status": "complained",
                                     "at": "2026-11-26T09:00:05Z", "address": "ann@example.com"}))

    invoke(app, receipts_record(ws, {"provider_message_id": "p-1", "status": "bounced", "at": "2026-11-26T09:00:06Z",
                                     "address": "ann@example.com"}))

    assert status_of(key) == "complained"
    assert repo_fatigue.suppression(ws, "email", "ann@example.com").reasons == {"complaint", "hard_bounce"}
    counted = counters.read(ws, "task#t1")
    assert (counted["complained"], counted["bounced"], counted["delivered"]) == (1, 0, 1)


def test_a_campaign_message_counts_for_its_task_and_its_campaign(app, ws, at):
    sent_message(ws, "sbx", "p-1", campaign_id="cmp_1", now=START)

    invoke(app, receipts_record(ws, {"provider_message_id": "p-1", "status": "delivered", "at": "2026-11-26T09:00:05Z"}))

    assert counters.read(ws, "task#t1")["delivered"] == counters.read(ws, "campaign#cmp_1")["delivered"] == 1


# --------------------------------------------------------------------------- the sandbox's own receipts


@pytest.fixture
def through_the_app(api, monkeypatch):
    """The sandbox's POSTs go to the app in-process (the local stack's HTTP server in ``make run``)."""
    from chalicelib.receipts import sandbox_poster

    def post(url: str, body: bytes, headers: dict[str, str]) -> int:
        path = url[len(settings.public_base_url):]
        return api.post(path, raw=body, headers=headers).status

    monkeypatch.setattr(sandbox_poster, "transport", post)


def send_through_the_sandbox(ws_id: str, *users: str, task_id: str = "t1", **extra: Any) -> None:
    from chalicelib.sending.queue import ProviderRef, Recipient, SendMessage, enqueue

    enqueue([SendMessage(workspace_id=ws_id, channel="sms", provider=ProviderRef(name="sbx"), task_id=task_id,
                         recipients=[Recipient(user_id=u, to=f"+86138000000{i:02d}", content={"text": "hi"})
                                     for i, u in enumerate(users)], **extra)], clock.now())


def schedule(app) -> None:
    from devstack.lambda_shapes import FakeContext, scheduled_event

    app.handler_map["post_sandbox_receipts"](scheduled_event("post_sandbox_receipts", clock.now(), settings.region),
                                            FakeContext("post_sandbox_receipts"))


def message_of(ws_id: str, user: str) -> Any:
    from chalicelib.sending.messages import MessageKey

    return MessageKey(ws_id, user, task_id="t1")


def test_a_sandbox_send_ends_opened_when_the_clock_reaches_its_receipts(api, app, workspace, drain, at,
                                                                        through_the_app):
    put_sandbox(api, workspace, receipt_delay_seconds=30, open_rate=1, click_rate=0)
    send_through_the_sandbox(workspace.id, "u1")
    drain()

    schedule(app)  # nothing is due yet
    drain()
    before = status_of(message_of(workspace.id, "u1"))
    at(45)  # delivered (30 s) is due, opened (60 s) is not
    schedule(app)
    drain()
    middle = status_of(message_of(workspace.id, "u1"))
    at(120)
    schedule(app)
    drain()

    assert (before, middle, status_of(message_of(workspace.id, "u1"))) == ("sent", "delivered", "opened")
    counted = counters.read(workspace.id, "task#t1")
    assert {k: counted[k] for k in ("targeted", "sent", "delivered", "opened", "clicked")} == {
        "targeted": 1, "sent": 1, "delivered": 1, "opened": 1, "clicked": 0}
    at(600)
    schedule(app)  # nothing left to post: no more receipts, nothing changes
    assert counters.read(workspace.id, "task#t1") == counted


def test_a_sandbox_failure_gives_back_the_fatigue_place(api, app, workspace, drain, at):
    from chalicelib.sending import fatigue, steps

    put_sandbox(api, workspace, failure_rate=1)
    assert api.put("/v1/fatigue-rules/sms", {"max_messages": 1, "period": "day"},
                   key=workspace.admin_key).status == 200, "fatigue rule"
    steps._settings_cache.clear()
    send_through_the_sandbox(workspace.id, "u1")
    drain()

    item = status_of(message_of(workspace.id, "u1"))
    slot = fatigue.admit(repo_fatigue.load_rules(workspace.id)["sms"], now=clock.now(), tz="Asia/Shanghai").slot
    assert item == "failed"
    assert repo_fatigue.counted(workspace.id, "u1", slot.counter_sk) == 0
    assert counters.read(workspace.id, "task#t1")["failed"] == 1


def test_a_chat_reply_becomes_a_message_received_event_on_the_senders_profile(api, app, workspace, drain, at):
    from chalicelib.receipts.queue import InboundMessages, QueuedInbound, enqueue

    r = api.put("/v1/profiles/u-phone", {"phone": "+8613800000001"}, key=workspace.admin_key)
    assert r.status in (200, 201), r.json
    message = InboundMessages(workspace_id=workspace.id, provider="wa", messages=[QueuedInbound(
        channel="whatsapp", address="+86 138 0000 0001", at="2026-11-26T09:00:00.000Z", text="STOP?",
        provider_message_id="wamid-1")])

    enqueue([message, message])  # delivered twice: one event
    drain()

    events = api.get("/v1/profiles/u-phone/events", key=workspace.admin_key)
    assert events.status == 200, events.json
    received = [e for e in events.json["items"] if e["name"] == "message_received"]
    assert len(received) == 1 and received[0]["properties"]["text"] == "STOP?"


def test_a_message_changed_between_read_and_write_is_decided_again_and_the_rest_written(app, ws, at, monkeypatch):
    from chalicelib.receipts import repo as receipts_repo
    from chalicelib.receipts.queue import ReceiptsMessage

    one = sent_message(ws, "sbx", "p-1", now=START)
    two = sent_message(ws, "sbx", "p-2", user_id="u2", now=START)
    real_read = receipts_repo.read
    raced = []

    def read_then_a_concurrent_writer(keys):
        found = real_read(keys)
        if not raced:  # another invocation applies an open of p-1 right after our read
            raced.append(True)
            applier.apply_batch([ReceiptsMessage(workspace_id=ws, provider="sbx", receipts=[
                {"provider_message_id": "p-1", "status": "opened", "at": "2026-11-26T09:00:09Z"}])], START)
        return found

    monkeypatch.setattr(receipts_repo, "read", read_then_a_concurrent_writer)
    invoke(app, receipts_record(ws, {"provider_message_id": "p-1", "status": "clicked", "at": "2026-11-26T09:00:20Z",
                                     "url": "https://shop.example/a"},
                                {"provider_message_id": "p-2", "status": "delivered", "at": "2026-11-26T09:00:05Z"}))

    assert (status_of(one), status_of(two)) == ("clicked", "delivered")
    counted = counters.read(ws, "task#t1")
    assert {k: counted[k] for k in ("delivered", "opened", "unique_clicks", "clicked")} == {
        "delivered": 2, "opened": 1, "unique_clicks": 1, "clicked": 1}


def test_the_senders_decisions_are_counted_per_task_and_campaign(api, app, workspace, drain, at):
    from chalicelib.sending import steps

    put_sandbox(api, workspace)
    assert api.put("/v1/fatigue-rules/sms", {"max_messages": 1, "period": "day"},
                   key=workspace.admin_key).status == 200
    steps._settings_cache.clear()
    send_through_the_sandbox(workspace.id, "u1", "u2", task_id="t1", campaign_id="cmp_9")
    drain()
    send_through_the_sandbox(workspace.id, "u1", task_id="t2", campaign_id="cmp_9")
    drain()
    send_through_the_sandbox(workspace.id, "u1", task_id="t2", campaign_id="cmp_9")  # redelivered: counted once
    drain()

    first, second, campaign = (counters.read(workspace.id, owner) for owner in ("task#t1", "task#t2", "campaign#cmp_9"))
    assert (first["targeted"], first["sent"], first["cost"]) == (2, 2, 0)
    assert (second["targeted"], second["sent"], second["dropped_fatigue"]) == (1, 0, 1)
    assert (campaign["targeted"], campaign["sent"], campaign["dropped_fatigue"]) == (3, 2, 1)


def test_a_sandbox_batch_is_marked_due_with_one_item_and_every_message_gets_its_receipts(
        api, app, workspace, drain, at, through_the_app):
    from chalicelib.models.messages import SandboxDueItem

    put_sandbox(api, workspace, receipt_delay_seconds=30, open_rate=1, click_rate=0)
    send_through_the_sandbox(workspace.id, "u1", "u2", "u3")
    drain()

    due = [item for shard in range(4) for item in SandboxDueItem.query(f"sandbox_due#{shard}", consistent_read=True)
           if any(workspace.id in pk for pk in item.outbox_pks or ())]
    assert len(due) == 1 and len(due[0].outbox_pks) == 3  # one PutItem for the batch, not one per message

    for seconds in (45, 75):  # delivered, then opened: each posted for the three, then due again as one item
        at(seconds)
        schedule(app)
        drain()
    assert [status_of(message_of(workspace.id, u)) for u in ("u1", "u2", "u3")] == ["opened"] * 3


def test_more_due_receipts_than_one_request_takes_are_posted_in_several(api, app, workspace, drain, at,
                                                                        through_the_app, monkeypatch):
    from chalicelib.receipts import sandbox_poster

    monkeypatch.setattr(sandbox_poster, "MAX_RECEIPTS", 2)  # the route takes 1000 a request
    bodies: list[int] = []
    real = sandbox_poster.transport
    monkeypatch.setattr(sandbox_poster, "transport",
                        lambda url, body, headers: (bodies.append(len(json.loads(body)["receipts"])),
                                                    real(url, body, headers))[1])
    put_sandbox(api, workspace, receipt_delay_seconds=30, open_rate=0)
    send_through_the_sandbox(workspace.id, "u1", "u2", "u3")
    drain()

    at(45)
    schedule(app)
    drain()

    assert sorted(bodies) == [1, 2]
    assert [status_of(message_of(workspace.id, u)) for u in ("u1", "u2", "u3")] == ["delivered"] * 3
