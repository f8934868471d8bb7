"""A click on a per-recipient short link reaches its message through the receipts queue:
a ``clicked`` receipt addressed by message key moves the status and counts the click once,
and the message's first click once as a unique click."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from chalicelib import clock
from chalicelib.counters import repo as counters
from chalicelib.links import codes
from chalicelib.links import service as links
from chalicelib.models.messages import MessageItem
from chalicelib.sending import repo_messages
from chalicelib.receipts import applier
from chalicelib.receipts.queue import KeyedReceipt, MessageReceipts
from chalicelib.sending.messages import MessageKey
from chalicelib.sending.queue import SendMessage, enqueue
from tests.handlers.test_sender import record

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
URL = "https://shop.example/sale"


def _send(api, workspace, task: str) -> MessageKey:
    admin = workspace.admin_key
    api.put("/v1/profiles/ann", {"phone": "+8613800000001"}, key=admin)
    tid = api.post("/v1/templates", {"channel": "sms", "name": "sale",
                                     "body": "Sale: {{ \"" + URL + "\" | short_link }}"}, key=admin).json["id"]
    assert api.post(f"/v1/templates/{tid}/approve", key=admin).status == 200
    enqueue([SendMessage.model_validate({
        "workspace_id": workspace.id, "channel": "sms", "task_id": task, "template_id": tid,
        "provider": {"name": "sbx", "kind": "sandbox"}, "recipients": [{"user_id": "ann"}]})], START)
    return MessageKey(workspace.id, "ann", task_id=task)


def _status(key: MessageKey) -> str:
    return str(repo_messages.read_item(key).status)


def test_two_clicks_on_a_sent_link_make_the_message_clicked_with_two_clicks_and_one_unique_click(
        app, api, workspace, drain, monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: START)
    task = "tsk_" + uuid.uuid4().hex[:8]
    key = _send(api, workspace, task)
    drain()
    assert _status(key) == "sent"
    code = codes.message_code(links._code_key(), str(key), URL)

    for seconds in (60, 120):
        monkeypatch.setattr(clock, "now", lambda s=seconds: START + timedelta(seconds=s))
        assert api.get(f"/s/{code}").status == 302
    drain()

    assert _status(key) == "clicked"
    counted = counters.read(workspace.id, f"task#{task}")
    assert (counted["sent"], counted["clicked"], counted["unique_clicks"]) == (1, 2, 1)
    assert (counted["delivered"], counted["opened"], counted["targeted"]) == (1, 1, 1)

    drain()  # nothing left; a redelivered receipt counts nothing again
    again = MessageReceipts(workspace_id=workspace.id, receipts=[
        KeyedReceipt(message_key=str(key), status="clicked", at=clock.iso(START + timedelta(seconds=60)), url=URL)])
    applier.apply_keyed([again], START)
    assert counters.read(workspace.id, f"task#{task}")["clicked"] == 2


def test_a_click_before_the_outcome_write_waits_for_it_and_never_takes_the_record_from_the_sender(
        app, workspace, monkeypatch):
    from chalicelib.sending import repo_messages

    key = MessageKey(workspace.id, "ann", task_id="tsk_early")
    meta = repo_messages.Meta("ann", "sms", "sbx", "sandbox")
    assert repo_messages.claim(repo_messages.ClaimWrite(key, meta, "tok", START + timedelta(seconds=90), START, None))
    put_back: list[tuple[list, int]] = []
    monkeypatch.setattr(applier.queue, "enqueue", lambda messages, delay_seconds=0: put_back.append(
        (messages, delay_seconds)))
    click = MessageReceipts(workspace_id=workspace.id, receipts=[
        KeyedReceipt(message_key=str(key), status="clicked", at=clock.iso(START), url=URL)])

    done = applier.apply_keyed([click], START)

    assert _status(key) == "claimed" and done.counts["put_back"] == 1
    [(messages, delay)] = put_back
    assert messages[0].attempt == 1 and delay == applier.RETRY_BASE_SECONDS


def test_a_click_receipt_naming_another_workspaces_message_changes_nothing(app, workspace):
    key = MessageKey("ws_other", "ann", task_id="tsk_1")
    forged = MessageReceipts(workspace_id=workspace.id, receipts=[
        KeyedReceipt(message_key=str(key), status="clicked", at=clock.iso(START), url=URL)])

    assert applier.apply_keyed([forged], START).counts["foreign_key"] == 1


def test_the_receipts_handler_applies_keyed_receipts_from_the_queue(app, workspace):
    from tests.handlers.test_receipts_handler import invoke as invoke_receipts
    from tests.receipts_support import sent_message

    key = sent_message(workspace.id, "sbx", "pm-1", now=START)
    body = MessageReceipts(workspace_id=workspace.id, receipts=[
        KeyedReceipt(message_key=str(key), status="clicked", at=clock.iso(START), url=URL)])

    assert invoke_receipts(app, record(json.dumps(body.model_dump()))) == {"batchItemFailures": []}
    assert _status(key) == "clicked"
