"""The sends queue handler: each message reaches the provider at most once, under
redelivery, concurrency, crashes and provider errors (moto, through app.handler_map)."""
from __future__ import annotations

import json
import threading
import uuid
from collections import defaultdict, deque
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.models.messages import MessageItem, SandboxOutboxItem
from chalicelib.providers.base import Outgoing, Provider, Result, register
from chalicelib.providers.sandbox import outbox_pk
from chalicelib.sending import messages, repo_messages
from chalicelib.sending.messages import MessageKey

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


class Spy:
    """What the spy providers were asked, and what they answer (per user id, in turn)."""

    calls: list[list[Outgoing]] = []
    script: dict[str, deque[Result]] = defaultdict(deque)

    @classmethod
    def reset(cls) -> None:
        cls.calls = []
        cls.script = defaultdict(deque)

    @classmethod
    def sends_of(cls, user_id: str) -> list[Outgoing]:
        return [o for batch in cls.calls for o in batch if o.user_id == user_id]


@register
class SpyProvider(Provider):
    kind = "spy"
    channels = frozenset({"sms", "email"})
    max_batch = 3
    supports_idempotency_key = False

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        Spy.calls.append(list(batch))
        out = []
        for o in batch:
            queue = Spy.script[o.user_id]
            out.append(queue.popleft() if queue else Result("accepted", provider_message_id=f"spy-{uuid.uuid4().hex[:8]}"))
        return out


@register
class IdempotentSpyProvider(SpyProvider):
    kind = "spy_idempotent"
    supports_idempotency_key = True


@register
class TogetherSpyProvider(Provider):
    """A spy whose receipts name our key; it takes no idempotency key (a crashed call's
    messages are given up, never resent), and answers per user from ``Spy.script``."""

    kind = "spy_together"
    channels = frozenset({"sms"})
    max_batch = 50
    receipts_name_message_key = True

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        Spy.calls.append(list(batch))
        queue = Spy.script
        return [queue[o.user_id].popleft() if queue[o.user_id] else
                Result("accepted", provider_message_id=f"tg-{uuid.uuid4().hex[:8]}") for o in batch]


@pytest.fixture(autouse=True)
def _fresh_spy():
    Spy.reset()
    yield
    Spy.reset()


@pytest.fixture
def at(monkeypatch):
    """Set the clock the handler reads: at(seconds after START)."""
    def move(seconds: float = 0) -> datetime:
        moment = START + timedelta(seconds=seconds)
        monkeypatch.setattr(clock, "now", lambda: moment)
        return moment

    move(0)
    return move


def send_body(workspace_id: str, *users: str, kind: str = "spy", task_id: str = "tsk_1", **settings: Any) -> dict:
    return {"type": "send", "workspace_id": workspace_id, "channel": "sms", "task_id": task_id,
            "provider": {"name": "main", "kind": kind, "settings": {"cost_per_message": 0.05, **settings}},
            "recipients": [{"user_id": u, "to": f"+8613800000{i:03d}", "content": {"text": "hi"}}
                           for i, u in enumerate(users)]}


def record(body: dict | str, message_id: str | None = None, receives: int = 1) -> dict:
    return {
        "messageId": message_id or str(uuid.uuid4()), "receiptHandle": "rh",
        "body": body if isinstance(body, str) else json.dumps(body),
        "attributes": {"ApproximateReceiveCount": str(receives)}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ma-local-sends",
        "awsRegion": "us-east-1",
    }


def invoke(app, *records: dict) -> dict:
    from devstack.lambda_shapes import FakeContext

    return app.handler_map["on_sends"]({"Records": list(records)}, FakeContext("on_sends"))


def stored(workspace_id: str, user_id: str, task_id: str = "tsk_1") -> MessageItem:
    """The message as every reader sees it (a sandbox message stays ``claimed`` in the table,
    its call's outcomes item saying it was sent: ``repo_messages.settle_items``)."""
    key = MessageKey(workspace_id, user_id, task_id=task_id)
    item = repo_messages.read_item(key)
    if item is None:
        raise MessageItem.DoesNotExist()
    return item


def failures(result: dict) -> set[str]:
    return {f["itemIdentifier"] for f in result["batchItemFailures"]}


@pytest.fixture
def ws() -> str:
    return "ws_" + uuid.uuid4().hex[:12]


def test_a_message_is_sent_once_and_recorded_with_its_provider_id_cost_and_history(app, ws, at):
    result = invoke(app, record(send_body(ws, "u1")))

    assert result == {"batchItemFailures": []}
    [[sent]] = Spy.calls
    item = stored(ws, "u1")
    assert item.status == "sent" and item.provider_message_id and item.cost == 0.05
    assert item.provider_key == f"{ws}#main#{item.provider_message_id}"
    assert [h.status for h in item.history] == ["claimed", "sent"]
    assert item.claim_token is None and item.lease_until is None
    assert sent.idempotency_key == MessageKey(ws, "u1", task_id="tsk_1").idempotency_key


def test_a_receipt_finds_the_message_by_provider_message_id(app, ws, at):
    invoke(app, record(send_body(ws, "u1")))
    item = stored(ws, "u1")

    found = repo_messages.find_by_provider_id(ws, "main", item.provider_message_id)

    assert found == (item.pk, item.sk)
    assert repo_messages.find_by_provider_id(ws, "other", item.provider_message_id) is None


def test_messages_go_to_the_provider_in_batches_of_its_size(app, ws, at):
    users = [f"u{i}" for i in range(7)]

    invoke(app, record(send_body(ws, *users[:4])), record(send_body(ws, *users[4:])))

    assert sorted(len(batch) for batch in Spy.calls) == [1, 3, 3]
    assert {stored(ws, u).status for u in users} == {"sent"}


def test_a_redelivered_message_never_calls_the_provider_again(app, ws, at):
    body = send_body(ws, "u1", "u2")
    invoke(app, record(body, "m-1"))

    again = invoke(app, record(body, "m-1"))
    copy = invoke(app, record(body))

    assert again == copy == {"batchItemFailures": []}
    assert len(Spy.sends_of("u1")) == len(Spy.sends_of("u2")) == 1


def test_the_same_message_in_one_batch_is_sent_once(app, ws, at):
    body = send_body(ws, "u1")

    assert invoke(app, record(body), record(body)) == {"batchItemFailures": []}

    assert len(Spy.sends_of("u1")) == 1


def test_two_concurrent_deliveries_of_one_message_make_one_provider_call(app, ws, at, monkeypatch):
    """Both invocations read "never seen" before either claims; the claim's condition decides."""
    barrier = threading.Barrier(2, timeout=10)
    original_read = repo_messages.read

    def read_then_wait(keys, **kwargs):
        found = original_read(keys, **kwargs)
        barrier.wait()
        return found

    monkeypatch.setattr(repo_messages, "read", read_then_wait)
    body = send_body(ws, "u1", "u2", "u3")
    results: list[dict] = []
    threads = [threading.Thread(target=lambda: results.append(invoke(app, record(body, "m-1")))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(results) == 2 and any(failures(r) for r in results)  # who lost a claim looks again later
    assert [len(Spy.sends_of(u)) for u in ("u1", "u2", "u3")] == [1, 1, 1]
    monkeypatch.setattr(repo_messages, "read", original_read)
    assert invoke(app, record(body, "m-1")) == {"batchItemFailures": []}
    assert [len(Spy.sends_of(u)) for u in ("u1", "u2", "u3")] == [1, 1, 1]
    assert {stored(ws, u).status for u in ("u1", "u2", "u3")} == {"sent"}


class Crash(Exception):
    """The invocation dies between the provider call and the status write."""


def crash_after_the_provider_call(monkeypatch) -> None:
    def die(writes):
        raise Crash()

    monkeypatch.setattr(repo_messages, "record_outcome", die)
    monkeypatch.setattr(repo_messages, "record_outcomes", die)  # the batch's status writes
    monkeypatch.setattr(repo_messages, "record_accepted", lambda *a, **k: die(a))  # or its outcomes item


def test_a_crash_after_the_provider_call_leaves_the_message_claimed_and_redelivery_waits_for_the_lease(app, ws, at, monkeypatch):
    body = send_body(ws, "u1")
    crash_after_the_provider_call(monkeypatch)
    with pytest.raises(Crash):
        invoke(app, record(body, "m-1"))
    monkeypatch.undo()
    at(10)

    result = invoke(app, record(body, "m-1", receives=2))

    assert failures(result) == {"m-1"}
    assert len(Spy.sends_of("u1")) == 1
    assert stored(ws, "u1").status == "claimed"


def test_after_the_lease_a_provider_without_idempotency_key_is_not_called_again_and_the_message_fails(app, ws, at, monkeypatch):
    body = send_body(ws, "u1", kind="spy")
    crash_after_the_provider_call(monkeypatch)
    with pytest.raises(Crash):
        invoke(app, record(body, "m-1"))
    monkeypatch.undo()
    at(messages.LEASE_SECONDS + 1)

    result = invoke(app, record(body, "m-1", receives=2))

    assert result == {"batchItemFailures": []}
    assert len(Spy.sends_of("u1")) == 1
    item = stored(ws, "u1")
    assert (item.status, item.reason) == ("failed", "outcome unknown after a crash; not resent")
    assert [h.status for h in item.history] == ["claimed", "failed"]


def test_after_the_lease_a_provider_with_idempotency_key_is_called_again_with_the_same_key(app, ws, at, monkeypatch):
    body = send_body(ws, "u1", kind="spy_idempotent")
    crash_after_the_provider_call(monkeypatch)
    with pytest.raises(Crash):
        invoke(app, record(body, "m-1"))
    monkeypatch.undo()
    at(messages.LEASE_SECONDS + 1)

    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}
    assert invoke(app, record(body, "m-1", receives=3)) == {"batchItemFailures": []}

    first, second = Spy.sends_of("u1")
    assert first.idempotency_key == second.idempotency_key
    item = stored(ws, "u1")
    assert item.status == "sent" and item.attempts == 2


def test_the_sandbox_resent_after_a_crash_records_the_message_once(app, ws, at, monkeypatch):
    body = send_body(ws, "u1", kind="sandbox")
    crash_after_the_provider_call(monkeypatch)
    with pytest.raises(Crash):
        invoke(app, record(body, "m-1"))
    monkeypatch.undo()
    key = MessageKey(ws, "u1", task_id="tsk_1")
    first_id = SandboxOutboxItem.get(outbox_pk(ws, key.idempotency_key), "outbox").provider_message_id
    at(messages.LEASE_SECONDS + 1)

    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}

    outbox = SandboxOutboxItem.get(outbox_pk(ws, key.idempotency_key), "outbox", consistent_read=True)
    assert outbox.calls == 2 and outbox.provider_message_id == first_id
    assert stored(ws, "u1").provider_message_id == first_id


def test_a_retryable_provider_error_releases_the_message_and_a_later_delivery_sends_it(app, ws, at):
    Spy.script["u1"].append(Result("retryable", reason="provider answered 503"))
    body = send_body(ws, "u1", "u2")

    first = invoke(app, record(body, "m-1"))

    assert failures(first) == {"m-1"}
    item = stored(ws, "u1")
    assert (item.status, item.reason) == ("queued", "provider answered 503")
    assert stored(ws, "u2").status == "sent"
    at(60)
    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}
    assert stored(ws, "u1").status == "sent"
    assert len(Spy.sends_of("u1")) == 2 and len(Spy.sends_of("u2")) == 1
    assert [h.status for h in stored(ws, "u1").history] == ["claimed", "queued", "claimed", "sent"]


def test_a_permanent_provider_error_fails_the_message_with_the_provider_reason(app, ws, at):
    Spy.script["u1"].append(Result("permanent", reason="invalid phone number"))

    assert invoke(app, record(send_body(ws, "u1"))) == {"batchItemFailures": []}

    item = stored(ws, "u1")
    assert (item.status, item.reason, item.provider_key) == ("failed", "invalid phone number", None)
    invoke(app, record(send_body(ws, "u1")))
    assert len(Spy.sends_of("u1")) == 1


def dead_letters() -> list[tuple[str, str]]:
    """(body, reason) of every message on the sends DLQ (consumed)."""
    from chalicelib import aws
    from chalicelib.config import settings

    sqs, out = aws.sqs(), []
    url = aws.queue_url(settings.queue("sends-dlq"))
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get("Messages", []):
        for msg in batch:
            out.append((msg["Body"], msg.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    return out


@pytest.mark.parametrize("body, words", [
    ("not json", "not a message the sends queue understands"),
    ('{"type": "sned"}', "type"),
    (json.dumps({**send_body("ws_x", "u1"), "task_id": None}), "task_id, or journey_id"),
    (json.dumps(send_body("ws_x", "u1", kind="carrier_pigeon")), "no provider of kind 'carrier_pigeon'"),
    (json.dumps({**send_body("ws_x", "u1"), "recipients": []}), "recipients"),
])
def test_a_malformed_message_is_dead_lettered_at_once_with_its_reason(app, ws, at, body, words):
    good = record(send_body(ws, "u1"))

    assert invoke(app, record(body), good) == {"batchItemFailures": []}

    [(dead_body, reason)] = dead_letters()
    assert dead_body == body and words in reason
    assert stored(ws, "u1").status == "sent"


def test_the_sandbox_with_failure_rate_one_fails_every_message(app, ws, at):
    assert invoke(app, record(send_body(ws, "u1", "u2", kind="sandbox", failure_rate=1.0))) == {"batchItemFailures": []}

    for user in ("u1", "u2"):
        item = stored(ws, user)
        assert (item.status, item.reason) == ("failed", "sandbox: simulated rejection (failure_rate 1)")


def test_the_sandbox_records_each_message_with_its_planned_receipts(app, ws, at):
    invoke(app, record(send_body(ws, "u1", kind="sandbox", receipt_delay_seconds=30, open_rate=1.0)))

    key = MessageKey(ws, "u1", task_id="tsk_1")
    outbox = SandboxOutboxItem.get(outbox_pk(ws, key.idempotency_key), "outbox")
    assert outbox.provider_message_id == stored(ws, "u1").provider_message_id
    assert outbox.message_key == str(key) and outbox.calls == 1 and outbox.to == "+8613800000000"
    assert [(r.status, r.at) for r in outbox.receipts][:2] == [
        ("delivered", "2026-11-26T09:00:30.000Z"), ("opened", "2026-11-26T09:01:00.000Z")]
    assert outbox.expires_at == int((START + timedelta(days=7)).timestamp())


def test_the_sandbox_failure_rate_picks_the_same_messages_on_every_try(app, ws, at):
    users = [f"u{i}" for i in range(40)]
    invoke(app, record(send_body(ws, *users[:20], kind="sandbox", failure_rate=0.5)),
           record(send_body(ws, *users[20:], kind="sandbox", failure_rate=0.5)))
    first = {u: stored(ws, u).status for u in users}
    other_task = "tsk_2"
    invoke(app, record(send_body(ws, *users[:20], kind="sandbox", failure_rate=0.5, task_id=other_task)))

    assert set(first.values()) == {"sent", "failed"}
    from chalicelib.providers.sandbox import fraction
    for user in users:
        expected = "failed" if fraction(MessageKey(ws, user, task_id="tsk_1").idempotency_key, "fail") < 0.5 else "sent"
        assert first[user] == expected


def test_the_outcome_writes_are_the_next_requests_after_the_provider_call(app, ws, at, monkeypatch):
    """The "claimed, outcome unknown" window: from the provider's answer to each message's
    status write no other AWS request is made; the writes go out at once, one per message,
    and the batch is counted right after them (the "recorded, not counted" window)."""
    import botocore.client

    log: list[str] = []
    original_call = botocore.client.BaseClient._make_api_call
    original_send = SpyProvider.send

    def logged_call(self, operation, params):
        log.append(operation)
        return original_call(self, operation, params)

    def logged_send(self, batch):
        answer = original_send(self, batch)
        log.append("provider")
        return answer

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", logged_call)
    monkeypatch.setattr(SpyProvider, "send", logged_send)

    invoke(app, record(send_body(ws, "u1", "u2", "u3")))

    after = log[log.index("provider") + 1:]
    # a plain conditional status write per message, then the batch's counters in one transaction
    assert after == ["UpdateItem"] * 3 + ["TransactWriteItems"]
    before = log[:log.index("provider")]
    assert before[0] == "BatchGetItem" and before[-3:] == ["PutItem"] * 3  # the records, (admission), the claims


def test_a_step_before_the_claim_drops_or_defers_and_the_rest_is_sent(app, ws, at, monkeypatch):
    """The call point for rendering, consent and fatigue: a Decision per message."""
    from chalicelib.sending import sender
    from chalicelib.sending.messages import Defer, Drop

    def fatigue(jobs, now):
        decide = {"u1": Drop("dropped_fatigue", "at most 3 messages a day"),
                  "u2": Defer(now + timedelta(hours=1), "quiet hours")}
        return {j.key: decide[j.recipient.user_id] for j in jobs if j.recipient.user_id in decide}

    queued: list = []
    monkeypatch.setattr(sender, "STEPS", [fatigue])
    monkeypatch.setattr(sender, "enqueue", lambda sends, now: queued.extend(sends))

    assert invoke(app, record(send_body(ws, "u1", "u2", "u3"))) == {"batchItemFailures": []}

    assert [o.user_id for batch in Spy.calls for o in batch] == ["u3"]
    dropped = stored(ws, "u1")
    assert (dropped.status, dropped.reason) == ("dropped_fatigue", "at most 3 messages a day")
    [deferred] = queued
    assert [r.user_id for r in deferred.recipients] == ["u2"] and deferred.not_before == START + timedelta(hours=1)
    with pytest.raises(MessageItem.DoesNotExist):
        stored(ws, "u2")

    monkeypatch.setattr(sender, "STEPS", [])
    body = deferred.model_dump(mode="json")
    at(600)
    assert invoke(app, record(body)) == {"batchItemFailures": []}
    assert len(queued) == 2 and not Spy.sends_of("u2")  # still early: deferred again
    at(3600)
    assert invoke(app, record(body)) == {"batchItemFailures": []}
    assert stored(ws, "u2").status == "sent" and len(Spy.sends_of("u2")) == 1
    assert invoke(app, record(send_body(ws, "u1"))) == {"batchItemFailures": []}
    assert not Spy.sends_of("u1")  # a dropped message stays dropped


# --- the admission step: consent, suppression, quiet hours and caps before the claim -----

def _rule(ws: str, **fields: Any) -> None:
    from chalicelib.sending import fatigue, repo_fatigue

    repo_fatigue.put_rule(ws, fatigue.FatigueRule(channel="sms", **fields), START)


def test_a_second_message_over_the_users_daily_cap_is_dropped_and_never_reaches_the_provider(app, ws, at):
    _rule(ws, max_messages=1, period="day")

    invoke(app, record(send_body(ws, "u1", task_id="tsk_a")))
    invoke(app, record(send_body(ws, "u1", task_id="tsk_b")))
    invoke(app, record(send_body(ws, "u1", task_id="tsk_b")))  # redelivered: still dropped, counted once

    assert len(Spy.sends_of("u1")) == 1
    assert stored(ws, "u1", "tsk_a").status == "sent"
    dropped = stored(ws, "u1", "tsk_b")
    assert dropped.status == "dropped_fatigue" and dropped.reason


def test_a_suppressed_address_is_dropped_even_for_a_transactional_message(app, ws, at):
    from chalicelib.sending import repo_fatigue

    repo_fatigue.suppress(ws, "sms", "+8613800000000", "manual", START)

    invoke(app, record({**send_body(ws, "u1"), "transactional": True}))

    assert Spy.sends_of("u1") == []
    assert stored(ws, "u1").status == "dropped_suppressed"


def test_a_message_in_quiet_hours_is_deferred_to_their_end_then_sent(app, ws, at, monkeypatch):
    from datetime import time

    from chalicelib.sending import sender
    from chalicelib.sending.fatigue import QuietHours

    requeued: list = []
    monkeypatch.setattr(sender, "enqueue", lambda messages, now: requeued.extend(messages))  # SQS would delay it

    _rule(ws, quiet_hours=QuietHours(time(8), time(10)), quiet_action="defer")  # UTC: the workspace is unknown

    invoke(app, record(send_body(ws, "u1")))

    assert Spy.sends_of("u1") == []
    [again] = [m.model_dump(mode="json") for m in requeued]
    assert again["not_before"].startswith("2026-11-26T10:00:00")
    at(3600)
    invoke(app, record(again))
    assert len(Spy.sends_of("u1")) == 1 and stored(ws, "u1").status == "sent"


# --- rendering from an approved template, right before the claim ---------------------------

def _template(api, key: str, *, approve: bool) -> str:
    body = {"channel": "sms", "name": "hello", "body": "Hi {{ profile.attributes.first_name }}, {{ offer }}",
            "variables": {"offer": "10% off"}}
    tid = api.post("/v1/templates", body, key=key).json["id"]
    if approve:
        assert api.post(f"/v1/templates/{tid}/approve", key=key).status == 200
    return tid


def test_each_recipient_gets_the_approved_template_rendered_for_them_and_a_missing_value_fails_only_theirs(
        app, api, workspace, at):
    key = workspace.admin_key
    api.put("/v1/profiles/ann", {"attributes": {"first_name": "Ann"}}, key=key)
    api.put("/v1/profiles/bob", {"attributes": {}}, key=key)
    tid = _template(api, key, approve=True)

    invoke(app, record({**send_body(workspace.id, "ann", "bob", "ghost"), "template_id": tid,
                        "values": {"offer": "20% off"}}))

    [sent] = Spy.sends_of("ann")
    assert sent.content == {"channel": "sms", "body": "Hi Ann, 20% off"}
    assert Spy.sends_of("bob") == [] and Spy.sends_of("ghost") == []
    bob, ghost = stored(workspace.id, "bob"), stored(workspace.id, "ghost")
    assert bob.status == "failed" and "first_name" in bob.reason
    assert ghost.status == "failed" and "no profile ghost" in ghost.reason


def test_nothing_is_sent_from_a_template_that_is_not_approved(app, api, workspace, at):
    key = workspace.admin_key
    api.put("/v1/profiles/ann", {"attributes": {"first_name": "Ann"}}, key=key)
    tid = _template(api, key, approve=False)

    invoke(app, record({**send_body(workspace.id, "ann"), "template_id": tid}))
    invoke(app, record({**send_body(workspace.id, "ann", task_id="tsk_other"), "template_id": "tplnone"}))

    assert Spy.calls == []
    assert "not approved (pending_review)" in stored(workspace.id, "ann").reason
    assert "not approved (gone)" in stored(workspace.id, "ann", "tsk_other").reason


# --- provider accounts from the registry -------------------------------------------------------

def test_a_send_naming_a_provider_account_uses_the_registrys_kind_and_settings(app, api, workspace, at):
    key = workspace.admin_key
    assert api.put("/v1/providers/outbox", {"channel": "sms", "kind": "sandbox", "cost_per_message": 0.03,
                                             "batch_size": 2}, key=key).status == 200
    body = {**send_body(workspace.id, "u1", "u2"), "provider": {"name": "outbox"}}

    assert invoke(app, record(body)) == {"batchItemFailures": []}

    for user in ("u1", "u2"):
        message = stored(workspace.id, user)
        assert message.status == "sent" and message.provider_kind == "sandbox" and float(message.cost) == 0.03
        outbox = SandboxOutboxItem.get(outbox_pk(workspace.id, message.idempotency_key), "outbox")
        assert outbox.to.startswith("+86")


def test_a_send_naming_no_such_account_or_one_for_another_channel_fails_with_the_reason(app, api, workspace, at):
    key = workspace.admin_key
    api.put("/v1/providers/mailer", {"channel": "email", "kind": "sandbox"}, key=key)

    invoke(app, record({**send_body(workspace.id, "u1"), "provider": {"name": "nowhere"}}))
    invoke(app, record({**send_body(workspace.id, "u1", task_id="tsk_mail"), "provider": {"name": "mailer"}}))

    assert stored(workspace.id, "u1").status == "failed" and "no provider account nowhere" in stored(workspace.id, "u1").reason
    assert "sends email, not sms" in stored(workspace.id, "u1", "tsk_mail").reason


# --- addresses from the profile, for sends that name a user only -----------------------------

def _unaddressed(body: dict, channel: str = "sms") -> dict:
    return {**body, "channel": channel, "recipients": [{"user_id": r["user_id"]} for r in body["recipients"]]}


def _count_profile_reads(monkeypatch) -> list[list[str]]:
    from chalicelib.profiles import repo as profiles_repo

    calls: list[list[str]] = []
    real = profiles_repo.read_profiles

    def counted(workspace_id, users, **kwargs):
        calls.append(list(users))
        return real(workspace_id, users, **kwargs)

    monkeypatch.setattr(profiles_repo, "read_profiles", counted)
    return calls


def test_a_send_without_an_address_goes_to_the_profiles_phone_and_one_without_a_phone_fails_with_the_reason(
        app, api, workspace, at, monkeypatch):
    key = workspace.admin_key
    api.put("/v1/profiles/ann", {"attributes": {"first_name": "Ann"}, "phone": "+8613800000001"}, key=key)
    api.put("/v1/profiles/bob", {"attributes": {"first_name": "Bob"}, "email": "bob@example.com"}, key=key)
    tid = _template(api, key, approve=True)
    reads = _count_profile_reads(monkeypatch)

    invoke(app, record({**_unaddressed(send_body(workspace.id, "ann", "bob", "ghost")), "template_id": tid}))

    [sent] = Spy.sends_of("ann")
    assert sent.to == "+8613800000001" and sent.content["body"] == "Hi Ann, 10% off"
    assert Spy.sends_of("bob") == [] and Spy.sends_of("ghost") == []
    assert stored(workspace.id, "bob").status == "failed"
    assert stored(workspace.id, "bob").reason == "no phone on the profile"
    assert stored(workspace.id, "ghost").reason == "no profile ghost"
    assert reads == [["ann", "bob", "ghost"]]  # one read, shared by the address lookup and rendering


def test_an_email_without_an_address_goes_to_the_profiles_email(app, api, workspace, at):
    api.put("/v1/profiles/ann", {"email": "ann@example.com"}, key=workspace.admin_key)

    invoke(app, record(_unaddressed(send_body(workspace.id, "ann"), channel="email")))

    [sent] = Spy.sends_of("ann")
    assert sent.to == "ann@example.com" and stored(workspace.id, "ann").status == "sent"


def test_the_address_found_on_the_profile_is_the_one_suppression_checks(app, api, workspace, at):
    from chalicelib.sending import repo_fatigue

    api.put("/v1/profiles/ann", {"phone": "+8613800000001"}, key=workspace.admin_key)
    repo_fatigue.suppress(workspace.id, "sms", "+8613800000001", "manual", START)

    invoke(app, record(_unaddressed(send_body(workspace.id, "ann"))))

    assert Spy.sends_of("ann") == [] and stored(workspace.id, "ann").status == "dropped_suppressed"


def test_a_redelivered_batch_of_recorded_messages_reads_no_profile(app, api, workspace, at, monkeypatch):
    api.put("/v1/profiles/ann", {"phone": "+8613800000001"}, key=workspace.admin_key)
    body = _unaddressed(send_body(workspace.id, "ann"))
    invoke(app, record(body))
    reads = _count_profile_reads(monkeypatch)

    invoke(app, record(body))

    assert reads == [] and len(Spy.sends_of("ann")) == 1


def test_the_drops_of_a_batch_are_recorded_in_one_transaction_with_their_counters(app, ws, at, monkeypatch):
    from chalicelib import dynamo
    from chalicelib.counters import repo as counters
    from chalicelib.sending import repo_fatigue

    users = [f"u{i}" for i in range(5)]
    for i in range(5):
        repo_fatigue.suppress(ws, "sms", f"+8613800000{i:03d}", "manual", START)
    transactions = []
    real = dynamo.transaction
    monkeypatch.setattr(dynamo, "transaction", lambda *a, **k: (transactions.append(1), real(*a, **k))[1])

    invoke(app, record(send_body(ws, *users)))
    invoke(app, record(send_body(ws, *users)))  # redelivered: recorded already, nothing written

    assert Spy.calls == [] and len(transactions) == 1
    assert {stored(ws, u).status for u in users} == {"dropped_suppressed"}
    counted = counters.read(ws, "task#tsk_1")
    assert (counted["dropped_suppressed"], counted["targeted"]) == (5, 5)
