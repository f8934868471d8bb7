"""The sender counts a provider batch's outcomes once, in one transaction after the
per-message status writes; a crash between the two is repaired by the redelivery, which
counts each recorded message once and never calls the provider again (moto, through
app.handler_map)."""
from __future__ import annotations

import threading

import pytest

from chalicelib.counters import repo as counters
from chalicelib.models.messages import CountBatchItem
from chalicelib.providers.base import Result
from chalicelib.sending import messages, repo_messages
from tests.handlers.test_sender import (  # noqa: F401 - fixtures
    Spy, _fresh_spy, at, failures, invoke, record, send_body, stored, ws,
)


class Crash(Exception):
    """The invocation dies between the status writes and the counting transaction."""


def crash_before_counting(monkeypatch) -> None:
    def die(*args, **kwargs):
        raise Crash()

    monkeypatch.setattr(repo_messages, "count_outcomes", die)


def task_counts(workspace_id: str) -> dict[str, float]:
    return counters.read(workspace_id, "task#tsk_1")


def test_a_crash_before_the_counting_is_counted_once_by_the_redelivery_after_the_lease(app, ws, at, monkeypatch):
    Spy.script["u2"].append(Result("permanent", reason="invalid phone number"))
    body = send_body(ws, "u1", "u2", "u3")
    crash_before_counting(monkeypatch)
    with pytest.raises(Crash):
        invoke(app, record(body, "m-1"))
    monkeypatch.undo()
    assert [stored(ws, u).status for u in ("u1", "u2", "u3")] == ["sent", "failed", "sent"]
    assert task_counts(ws)["targeted"] == 0  # recorded, not counted

    at(10)  # its own invocation might still be counting it: look again after the lease
    assert failures(invoke(app, record(body, "m-1", receives=2))) == {"m-1"}
    assert task_counts(ws)["targeted"] == 0

    at(messages.LEASE_SECONDS + 1)
    assert invoke(app, record(body, "m-1", receives=3)) == {"batchItemFailures": []}
    assert invoke(app, record(body, "m-1", receives=4)) == {"batchItemFailures": []}  # and again: nothing more

    assert [len(Spy.sends_of(u)) for u in ("u1", "u2", "u3")] == [1, 1, 1]
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"], counted["failed"]) == (3, 2, 1)
    assert counted["cost"] == pytest.approx(0.10)


def test_a_crash_before_the_provider_answer_is_written_then_redelivery_still_counts_once(app, ws, at, monkeypatch):
    """(The "claimed, outcome unknown" window, for the counters: nothing was counted, and
    the give-up counts the message once.)"""
    body = send_body(ws, "u1", kind="spy")

    def die(writes):
        raise Crash()

    monkeypatch.setattr(repo_messages, "record_outcomes", die)
    with pytest.raises(Crash):
        invoke(app, record(body, "m-1"))
    monkeypatch.undo()
    at(messages.LEASE_SECONDS + 1)

    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}
    assert invoke(app, record(body, "m-1", receives=3)) == {"batchItemFailures": []}

    assert len(Spy.sends_of("u1")) == 1
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"], counted["failed"]) == (1, 0, 1)


def test_a_batch_a_redelivery_began_counting_is_not_counted_again_by_its_own_late_invocation(app, ws, at, monkeypatch):
    """The late invocation's counting transaction finds the batch counted message by
    message, counts nothing, and has its records redelivered instead."""
    body = send_body(ws, "u1", "u2", "u3")
    real_count = repo_messages.count_outcomes
    late: list[dict] = []

    def a_redelivery_first(*args, **kwargs):
        at(messages.LEASE_SECONDS + 1)
        monkeypatch.setattr(repo_messages, "count_outcomes", real_count)
        late.append(invoke(app, record(body, "m-2", receives=2)))  # the same messages, counted by the redelivery
        return real_count(*args, **kwargs)

    monkeypatch.setattr(repo_messages, "count_outcomes", a_redelivery_first)
    result = invoke(app, record(body, "m-1"))

    assert late == [{"batchItemFailures": []}]
    assert failures(result) == {"m-1"}  # its messages are looked at again, and found counted
    assert invoke(app, record(body, "m-1", receives=2)) == {"batchItemFailures": []}
    assert [len(Spy.sends_of(u)) for u in ("u1", "u2", "u3")] == [1, 1, 1]
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"]) == (3, 3)


def test_a_batch_counted_with_its_outcomes_leaves_one_recorded_item_and_no_digests(app, ws, at):
    invoke(app, record(send_body(ws, "u1", "u2"), "m-1"))

    token = stored(ws, "u1").count_batch
    assert token and stored(ws, "u2").count_batch == token
    item = CountBatchItem.get(repo_messages.batch_pk(ws, token), "batch", consistent_read=True)
    assert item.state == "recorded" and item.counted_keys is None
    assert task_counts(ws)["sent"] == 2


@pytest.mark.parametrize("kind", ["spy", "spy_together"])  # outcomes written per message, or one item per call
def test_two_threads_delivering_overlapping_batches_send_each_message_once_and_count_it_once(app, ws, at, monkeypatch,
                                                                                             kind):
    """Two different sends messages sharing recipients, both read before either claims."""
    barrier = threading.Barrier(2, timeout=10)
    original_read = repo_messages.read

    def read_then_wait(keys, **kwargs):
        found = original_read(keys, **kwargs)
        barrier.wait()
        return found

    monkeypatch.setattr(repo_messages, "read", read_then_wait)
    first, second = (send_body(ws, "u1", "u2", "u3", "u4", kind=kind),
                     send_body(ws, "u3", "u4", "u5", "u6", kind=kind))
    results: dict[str, dict] = {}
    threads = [threading.Thread(target=lambda b=b, m=m: results.__setitem__(m, invoke(app, record(b, m))))
               for b, m in ((first, "m-1"), (second, "m-2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    monkeypatch.setattr(repo_messages, "read", original_read)
    at(messages.LEASE_SECONDS + 1)
    for body, message_id in ((first, "m-1"), (second, "m-2")):
        if failures(results[message_id]):
            assert invoke(app, record(body, message_id, receives=2)) == {"batchItemFailures": []}

    users = ("u1", "u2", "u3", "u4", "u5", "u6")
    assert [len(Spy.sends_of(u)) for u in users] == [1] * 6
    assert {stored(ws, u).status for u in users} == {"sent"}
    counted = task_counts(ws)
    assert (counted["targeted"], counted["sent"]) == (6, 6)
