"""Messages, pure: keys, the status order, the claim decisions and the retry backoff."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import reduce

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.sending import messages as m

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def test_the_status_order_runs_queued_sent_delivered_opened_clicked():
    assert m.advance("queued", "sent") == "sent"
    assert m.advance("sent", "delivered") == "delivered"
    assert m.advance("opened", "delivered") == "opened"  # a late receipt never moves it back
    assert m.advance("clicked", "opened") == "clicked"


@pytest.mark.parametrize("terminal", m.TERMINAL)
def test_a_terminal_status_is_never_left(terminal):
    for update in ("queued", "sent", "delivered", "opened", "clicked"):
        assert m.advance(terminal, update) == terminal


@given(st.lists(st.sampled_from(m.STATUSES), min_size=1))
def test_any_sequence_of_updates_ends_at_the_highest_status_whatever_their_order(updates):
    final = reduce(m.advance, updates, "queued")
    assert final == max(updates + ["queued"], key=m.RANK.__getitem__)
    assert reduce(m.advance, reversed(updates), "queued") == final


def test_a_task_message_key_is_deterministic_and_starts_with_the_workspace():
    key = m.MessageKey("ws_1", "user#1", task_id="tsk_1")
    again = m.MessageKey("ws_1", "user#1", task_id="tsk_1")
    assert (key.pk, key.sk, key.idempotency_key) == (again.pk, again.sk, again.idempotency_key)
    assert key.pk.startswith("ws_1#task#tsk_1#") and key.sk == "user#user#1"
    assert key.pk in m.task_partitions("ws_1", "tsk_1")


def test_a_journey_message_key_names_the_node_and_the_entry():
    first = m.MessageKey("ws_1", "u1", journey_id="jrn_1", node_id="n1", entry_id="e1")
    second_entry = m.MessageKey("ws_1", "u1", journey_id="jrn_1", node_id="n1", entry_id="e2")
    assert first.pk.startswith("ws_1#journey#jrn_1#") and first.sk == "n1#e1#u1"
    assert first.idempotency_key != second_entry.idempotency_key


@pytest.mark.parametrize("parts", [{}, {"task_id": "t", "journey_id": "j", "node_id": "n", "entry_id": "e"},
                                   {"journey_id": "j", "node_id": "n"}])
def test_a_message_key_needs_exactly_one_origin(parts):
    with pytest.raises(ValueError):
        m.MessageKey("ws", "u", **parts)


def test_a_big_task_spreads_over_every_shard():
    shards = {m.MessageKey("ws", f"user-{i}", task_id="t").pk for i in range(2000)}
    assert len(shards) == m.SHARDS


def record(status: str, lease_in: float | None = None, version: int = 3) -> m.Record:
    return m.Record(status=status, version=version,
                    lease_until=NOW + timedelta(seconds=lease_in) if lease_in is not None else None)


def test_a_message_never_seen_is_claimed_new():
    assert m.decide_claim(None, idempotent_provider=False, now=NOW) == m.Claim(version=None)


@pytest.mark.parametrize("status", ["sent", "delivered", "clicked", "failed", "dropped_fatigue"])
def test_a_decided_message_is_never_sent_again(status):
    assert m.decide_claim(record(status), idempotent_provider=True, now=NOW) == m.Done(status)


def test_a_released_message_is_claimed_again_at_the_version_read():
    assert m.decide_claim(record("queued"), idempotent_provider=False, now=NOW) == m.Claim(version=3)


def test_a_live_claim_is_waited_for_until_its_lease_ends():
    assert m.decide_claim(record("claimed", lease_in=42.5), idempotent_provider=True, now=NOW) == m.Wait(43)


def test_a_dead_claim_is_resent_with_its_key_only_to_a_provider_that_takes_one():
    assert m.decide_claim(record("claimed", lease_in=-1), idempotent_provider=True, now=NOW) == m.Resend(3)
    assert m.decide_claim(record("claimed", lease_in=-1), idempotent_provider=False, now=NOW) == m.GiveUp(3)
    assert m.GiveUp(3).reason == "outcome unknown after a crash; not resent"


def test_the_lease_outlasts_the_sender_function_timeout():
    import json
    from pathlib import Path

    config = json.loads((Path(__file__).resolve().parents[2] / ".chalice" / "config.json").read_text())
    assert m.LEASE_SECONDS > config["lambda_functions"]["on_sends"]["lambda_timeout"]


def test_the_provider_answer_becomes_the_status():
    sent = m.after_call((), "accepted", "t", reason=None, provider_message_id="p1", cost=0.01)
    failed = m.after_call((), "permanent", "t", reason="invalid number", provider_message_id=None, cost=0.01)
    retry = m.after_call((), "retryable", "t", reason="503", provider_message_id=None, cost=0.01)
    assert (sent.status, sent.provider_message_id, sent.cost) == ("sent", "p1", 0.01)
    assert (failed.status, failed.reason, failed.cost) == ("failed", "invalid number", None)
    assert (retry.status, retry.reason) == ("queued", "503")


def test_the_history_keeps_the_first_and_the_latest_entries():
    history: tuple[m.HistoryItem, ...] = ()
    for i in range(25):
        history = m.with_history(history, "queued", f"t{i:02d}", None)
    assert len(history) == m.HISTORY_LIMIT
    assert history[0].at == "t00" and history[-1].at == "t24"


def test_retries_back_off_doubling_up_to_fifteen_minutes_and_honour_retry_after():
    assert [m.retry_delay(n) for n in (1, 2, 3, 10)] == [30, 60, 120, 900]
    assert m.retry_delay(1, retry_after=200.2) == 201
    assert m.retry_delay(1, retry_after=10_000) == 900
