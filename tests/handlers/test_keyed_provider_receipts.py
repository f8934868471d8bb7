"""Receipts that name our message key (the sandbox's; a webhook receiver may echo it too):
applied by key, with no ``by_provider_id`` index entry for the sandbox's messages, only
to the messages that provider account sent, and never lost when they come early."""
from __future__ import annotations

import json

from chalicelib import counters
from chalicelib.models.messages import MessageItem
from chalicelib.sending import repo_messages
from tests.handlers.test_receipts_handler import (  # noqa: F401 - fixtures
    START, at, invoke, message_of, schedule, send_through_the_sandbox, through_the_app, ws,
)
from tests.receipts_support import put_sandbox, receipts_body, signed, status_of


def test_a_sandbox_message_has_no_index_entry_and_its_receipts_still_reach_it(api, app, workspace, drain, at,
                                                                               through_the_app):
    put_sandbox(api, workspace, receipt_delay_seconds=30, open_rate=1, click_rate=0)
    send_through_the_sandbox(workspace.id, "u1")
    drain()
    key = message_of(workspace.id, "u1")
    item = repo_messages.read_item(key)
    assert item.provider_message_id and item.provider_key is None

    at(120)
    schedule(app)
    drain()

    assert status_of(key) == "opened"
    counted = counters.read(workspace.id, "task#t1")
    assert (counted["sent"], counted["delivered"], counted["opened"]) == (1, 1, 1)


def test_a_receipt_naming_a_message_another_provider_account_sent_changes_nothing(api, app, workspace, drain, at,
                                                                                  through_the_app):
    put_sandbox(api, workspace)
    other_secret = put_sandbox(api, workspace, name="other")
    send_through_the_sandbox(workspace.id, "u1")
    drain()
    key = message_of(workspace.id, "u1")

    body = receipts_body({"provider_message_id": "x", "message_key": str(key), "status": "bounced",
                          "at": "2026-11-26T09:00:05Z"})
    r = api.post(f"/v1/receipts/other?ws={workspace.id}", raw=body, headers=signed(other_secret, body))
    assert r.status == 200
    drain()

    assert status_of(key) == "sent"
    assert counters.read(workspace.id, "task#t1")["bounced"] == 0


def test_a_keyed_receipt_for_a_message_still_claimed_is_put_back_not_lost(app, ws, at, monkeypatch):
    from datetime import timedelta

    from chalicelib.receipts import applier
    from chalicelib.sending.messages import MessageKey

    put_back: list = []
    monkeypatch.setattr(applier.queue, "enqueue", lambda messages, delay_seconds=0: put_back.extend(
        messages))  # SQS delays run on the wall clock: look at what is queued

    key = MessageKey(ws, "u1", task_id="t1")
    meta = repo_messages.Meta("u1", "sms", "sbx", "sandbox")
    assert repo_messages.claim(repo_messages.ClaimWrite(key, meta, "token", START + timedelta(seconds=90), START, None))
    body = {"type": "message_receipts", "workspace_id": ws, "provider": "sbx", "receipts": [
        {"message_key": str(key), "status": "delivered", "at": "2026-11-26T09:00:05Z"}]}

    invoke(app, {"messageId": "r-1", "receiptHandle": "rh", "body": json.dumps(body),
                 "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
                 "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ma-local-receipts",
                 "awsRegion": "us-east-1"})

    assert [(m.type, m.provider, m.attempt, m.receipts[0].status) for m in put_back] == [
        ("message_receipts", "sbx", 1, "delivered")]
    assert status_of(key) == "claimed"


def test_a_receipt_naming_only_the_sandboxs_id_finds_its_message_without_the_index(api, app, workspace, drain, at,
                                                                                    through_the_app):
    secret = put_sandbox(api, workspace)
    send_through_the_sandbox(workspace.id, "u1")
    drain()
    key = message_of(workspace.id, "u1")
    item = repo_messages.read_item(key)
    assert item.provider_key is None

    body = receipts_body({"provider_message_id": item.provider_message_id, "status": "delivered",
                          "at": "2026-11-26T09:00:05Z"})
    assert api.post(f"/v1/receipts/sbx?ws={workspace.id}", raw=body, headers=signed(secret, body)).status == 200
    drain()

    assert status_of(key) == "delivered"
    assert counters.read(workspace.id, "task#t1")["delivered"] == 1
