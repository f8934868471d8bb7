"""For a provider whose receipts name our message key (the sandbox), the messages one call
accepted are recorded in one item for the call, not one outcome write each: the claim is
the only write per message. Every reader sees them sent, with the provider's id and the
cost; crashes, late invocations and receipts count each message once (moto, through
app.handler_map)."""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pytest

from chalicelib.counters import repo as counters
from chalicelib.models.messages import MessageItem
from chalicelib.providers.base import Result
from chalicelib.providers.sandbox import provider_message_id
from chalicelib.sending import messages, repo_messages
from chalicelib.sending.messages import MessageKey
from tests.handlers.test_sender import (  # noqa: F401 - fixtures
    Spy, TogetherSpyProvider, _fresh_spy, at, failures, invoke, record, send_body, stored, ws,
)


class Crash(Exception):
    pass


def crash_in(app, monkeypatch, step: str, body: dict) -> None:
    """Deliver ``body`` once, dying in ``repo_messages.<step>``."""
    def die(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(repo_messages, step, die)
    with pytest.raises(Crash):
        invoke(app, record(body, "m-1"))
    monkeypatch.undo()


@contextmanager
def dynamodb_calls() -> Iterator[list[str]]:
    """Every DynamoDB operation made inside the block, by any client (boto3's and PynamoDB's)."""
    import botocore.client

    calls: list[str] = []
    real = botocore.client.BaseClient._make_api_call

    def counted(self, operation_name, api_params):
        if self.meta.service_model.service_name == "dynamodb":
            calls.append(operation_name)
        return real(self, operation_name, api_params)

    botocore.client.BaseClient._make_api_call = counted
    try:
        yield calls
    finally:
        botocore.client.BaseClient._make_api_call = real


def raw(workspace_id: str, user_id: str) -> MessageItem:
    key = MessageKey(workspace_id, user_id, task_id="tsk_1")
    return MessageItem.get(key.pk, key.sk, consistent_read=True)


def task_counts(workspace_id: str) -> dict[str, float]:
    return counters.read(workspace_id, "task#tsk_1")


USERS = [f"u{i:02d}" for i in range(20)]


def test_a_call_accepting_twenty_messages_writes_twenty_claims_one_outcomes_item_and_one_counting(app, ws, at):
    with dynamodb_calls() as calls:
        assert invoke(app, record(send_body(ws, *USERS, kind="spy_together"))) == {"batchItemFailures": []}

    assert calls.count("PutItem") == 20 + 1  # the claims, and the call's outcomes item
    assert calls.count("UpdateItem") == 0    # no outcome write per message
    assert calls.count("TransactWriteItems") == 1  # the batch's counters
    assert raw(ws, "u00").status == messages.CLAIMED  # as stored ...
    shown = stored(ws, "u00")                         # ... and as every reader sees it
    assert shown.status == "sent" and shown.provider_message_id.startswith("tg-")
    assert float(shown.cost) == pytest.approx(0.05)
    assert [h.status for h in shown.history] == ["claimed", "sent"]
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"], counted["failed"]) == (20, 20, 0)
    assert counted["cost"] == pytest.approx(1.0)


def test_a_sandbox_id_follows_from_our_key_so_the_outcomes_item_stores_none(app, ws, at):
    invoke(app, record(send_body(ws, "u1", "u2", kind="sandbox")))

    item = stored(ws, "u1")
    key = MessageKey(ws, "u1", task_id="tsk_1")
    assert item.status == "sent" and item.provider_message_id == provider_message_id(str(key))
    outcomes = repo_messages.accepted_in({(ws, raw(ws, "u1").outcomes_batch, str(key), key.idempotency_key)})
    assert outcomes[str(key)].provider_message_id == provider_message_id(str(key))


def test_refused_and_retryable_answers_are_still_written_per_message_with_their_reasons(app, ws, at):
    Spy.script["u01"].append(Result("permanent", reason="invalid phone number"))
    Spy.script["u02"].append(Result("retryable", reason="throttled", retry_after=60))
    result = invoke(app, record(send_body(ws, "u00", "u01", "u02", kind="spy_together"), "m-1"))

    assert failures(result) == {"m-1"}  # u02 is retried
    assert [stored(ws, u).status for u in ("u00", "u01", "u02")] == ["sent", "failed", "queued"]
    assert raw(ws, "u01").reason == "invalid phone number"
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"], counted["failed"]) == (2, 1, 1)


def test_a_redelivery_finds_the_messages_sent_and_neither_calls_nor_counts_again(app, ws, at):
    body = send_body(ws, *USERS[:5], kind="spy_together")
    invoke(app, record(body, "m-1"))
    at(messages.LEASE_SECONDS + 5)  # past the claims' lease: only the outcomes item says they were sent

    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}

    assert len(Spy.calls) == 1
    assert {stored(ws, u).status for u in USERS[:5]} == {"sent"}
    assert task_counts(ws)["sent"] == 5


def test_a_crash_before_the_outcomes_item_gives_up_after_the_lease_and_never_calls_again(app, ws, at, monkeypatch):
    body = send_body(ws, "u1", "u2", kind="spy_together")
    crash_in(app, monkeypatch, "record_accepted", body)
    at(messages.LEASE_SECONDS + 1)

    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}

    assert len(Spy.calls) == 1  # not resent: this provider takes no idempotency key
    assert {stored(ws, u).reason for u in ("u1", "u2")} == {messages.OUTCOME_UNKNOWN}
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"], counted["failed"]) == (2, 0, 2)


def test_a_crash_after_the_outcomes_item_is_counted_once_by_the_redelivery(app, ws, at, monkeypatch):
    body = send_body(ws, *USERS[:4], kind="spy_together")
    crash_in(app, monkeypatch, "count_outcomes", body)
    assert task_counts(ws)["targeted"] == 0  # recorded, not counted

    at(10)  # its own invocation might still be counting: look again after the lease
    assert failures(invoke(app, record(body, "m-1", receives=2))) == {"m-1"}
    at(messages.LEASE_SECONDS + 1)
    assert invoke(app, record(body, "m-1", receives=3)) == {"batchItemFailures": []}
    assert invoke(app, record(body, "m-1", receives=4)) == {"batchItemFailures": []}

    assert len(Spy.calls) == 1
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"]) == (4, 4)
    assert counted["cost"] == pytest.approx(0.20)


def test_an_invocation_too_late_to_be_sure_of_its_claims_writes_per_message_and_leaves_the_counting(app, ws, at,
                                                                                                    monkeypatch):
    """Past the margin before the lease ends, nothing guards a per-call item: the answers are
    conditional writes on each message again, and the redelivery counts them, once."""
    slow = TogetherSpyProvider.send

    def slow_send(self, batch):
        at(messages.LEASE_SECONDS - messages.TOGETHER_MARGIN_SECONDS + 1)  # the call took a minute
        return slow(self, batch)

    monkeypatch.setattr(TogetherSpyProvider, "send", slow_send)
    body = send_body(ws, "u1", "u2", kind="spy_together")
    assert failures(invoke(app, record(body, "m-1"))) == {"m-1"}
    monkeypatch.undo()

    assert raw(ws, "u1").status == "sent"  # written on the message itself
    assert task_counts(ws)["targeted"] == 0
    at(2 * messages.LEASE_SECONDS)
    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"]) == (2, 2)
    assert len(Spy.calls) == 1


def test_a_late_outcomes_item_after_another_invocation_took_the_claim_over_is_ignored(app, ws, at):
    """A stale item (its messages claimed again since, by a resend) names a batch their
    records no longer name: readers look only at the batch the record names."""
    key = MessageKey(ws, "u1", task_id="tsk_1")
    meta = repo_messages.Meta("u1", "sms", "main", "spy_together")
    now = at(0)
    lease = messages.lease_until(now)
    assert repo_messages.claim(repo_messages.ClaimWrite(key, meta, "tok-1", lease, now, None, "batch-1"))
    previous = repo_messages.read([key])[key]
    assert repo_messages.claim(repo_messages.ClaimWrite(key, meta, "tok-2", lease, now, previous, "batch-2"))
    written = messages.after_call((), "accepted", "2026-11-26T09:00:00.000Z", reason=None,
                                  provider_message_id="tg-old", cost=0.05)
    repo_messages.record_accepted(ws, "batch-1", "spy_together", [repo_messages.OutcomeWrite(
        key, "tok-1", written, "main", now, None, frozenset(), "batch-1", False)], now)

    assert stored(ws, "u1").status == messages.CLAIMED
    assert repo_messages.read([key])[key].status == messages.CLAIMED


def test_the_task_message_list_and_a_task_result_audience_see_them_sent(app, ws, at):
    from chalicelib.audiences import task_result
    from chalicelib.tasks import repo as tasks_repo

    Spy.script["u01"].append(Result("permanent", reason="invalid phone number"))
    invoke(app, record(send_body(ws, "u00", "u01", "u02", kind="spy_together")))

    items, _ = tasks_repo.messages_page(ws, "tsk_1", statuses=("sent",), limit=10, shard=0, start=None)
    assert sorted((i.user_id, i.status) for i in items) == [("u00", "sent"), ("u02", "sent")]
    assert all(i.provider_message_id.startswith("tg-") and float(i.cost) == pytest.approx(0.05) for i in items)
    everything, _ = tasks_repo.messages_page(ws, "tsk_1", statuses=(), limit=10, shard=0, start=None)
    assert sorted(i.status for i in everything) == ["failed", "sent", "sent"]
    assert task_result.users_with(ws, "tsk_1", ["sent"]) == ["u00", "u02"]
    assert task_result.users_with(ws, "tsk_1", ["failed"]) == ["u01"]


def test_a_receipt_settles_the_message_and_counts_only_what_it_adds(app, ws, at):
    from chalicelib.receipts import applier
    from chalicelib.receipts.queue import MessageReceipts

    invoke(app, record(send_body(ws, "u1", kind="spy_together")))
    key = MessageKey(ws, "u1", task_id="tsk_1")
    pid = stored(ws, "u1").provider_message_id
    receipt = {"message_key": str(key), "status": "delivered", "at": "2026-11-26T09:00:05Z"}
    for _ in range(2):  # a duplicate receipt changes nothing
        applier.apply_keyed([MessageReceipts.model_validate(
            {"workspace_id": ws, "provider": "main", "receipts": [receipt]})], at(10))

    item = raw(ws, "u1")  # the receipt's write stored what the outcomes item said
    assert (item.status, item.provider_message_id, float(item.cost)) == ("delivered", pid, pytest.approx(0.05))
    assert [h.status for h in item.history] == ["claimed", "sent", "delivered"]
    assert item.claim_token is None and item.lease_until is None
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"], counted["delivered"]) == (1, 1, 1)
