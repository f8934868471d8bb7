"""Fatigue counters and consent storage against moto: the cap holds under real
concurrency, a redelivery counts once, a failed send gives its place back, and a batch's
consent, suppressions and counters come from one BatchGetItem."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import pytest

from chalicelib import ids
from chalicelib.sending import repo_fatigue as repo
from chalicelib.sending.admission import admit_batch
from chalicelib.sending.fatigue import Defer, Drop, FatigueRule, QuietHours, Send, admit
from chalicelib.sending.repo_fatigue import Recipient

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=timezone.utc)  # 11:00 in Shanghai
CAP_3 = FatigueRule("sms", max_messages=3, period="day")


@pytest.fixture
def ws(aws_backend) -> str:
    return ids.new_id("ws")


def slot_of(rule: FatigueRule = CAP_3, tz: str = "Asia/Shanghai"):
    decision = admit(rule, now=NOW, tz=tz)
    assert isinstance(decision, Send) and decision.slot is not None
    return decision.slot


def run_together(jobs: list[Callable[[], Any]]) -> list[Any]:
    barrier = threading.Barrier(len(jobs))

    def start(job: Callable[[], Any]) -> Any:
        barrier.wait()
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        return [f.result() for f in [pool.submit(start, job) for job in jobs]]


@contextmanager
def dynamodb_calls() -> Iterator[list[str]]:
    """The DynamoDB operations made inside the block."""
    from chalicelib import aws

    calls: list[str] = []
    events = aws.dynamodb().meta.events

    def record(model: Any, **_: Any) -> None:
        calls.append(model.name)

    events.register("before-call.dynamodb", record)
    try:
        yield calls
    finally:
        events.unregister("before-call.dynamodb", record)


# --- the cap --------------------------------------------------------------------------------

def test_twenty_concurrent_sends_to_one_user_with_a_cap_of_3_let_exactly_3_through(ws):
    slot = slot_of()
    taken = run_together([lambda i=i: repo.take_slot(ws, "u1", slot, f"task#t1#m{i}") for i in range(20)])

    assert taken.count(True) == 3
    assert repo.counted(ws, "u1", slot.counter_sk) == 3


def test_twenty_concurrent_admissions_send_3_and_drop_17_for_fatigue(ws):
    recipients = [Recipient(f"task#t{i}#u1", "u1", "sms", "+8613800138000") for i in range(20)]
    decisions = run_together([lambda r=r: admit_batch(ws, "Asia/Shanghai", {"sms": CAP_3}, [r], NOW)[r.message_key]
                              for r in recipients])

    assert sum(isinstance(d, Send) for d in decisions) == 3
    dropped = [d for d in decisions if isinstance(d, Drop)]
    assert len(dropped) == 17 and {d.status for d in dropped} == {"dropped_fatigue"}


def test_a_counter_is_per_user_channel_and_local_day(ws):
    slot = slot_of()
    for i in range(3):
        assert repo.take_slot(ws, "u1", slot, f"m{i}")

    assert not repo.take_slot(ws, "u1", slot, "m3")
    assert repo.take_slot(ws, "u2", slot, "m3")
    assert repo.take_slot(ws, "u1", slot_of(FatigueRule("email", max_messages=3, period="day")), "m3")
    tomorrow = admit(CAP_3, now=datetime(2026, 11, 26, 16, 0, tzinfo=timezone.utc), tz="Asia/Shanghai")
    assert isinstance(tomorrow, Send) and tomorrow.slot is not None
    assert repo.take_slot(ws, "u1", tomorrow.slot, "m3")


def test_a_counter_expires_a_day_after_its_period(ws):
    from chalicelib import aws
    from chalicelib.config import settings

    slot = slot_of()
    repo.take_slot(ws, "u1", slot, "m0")
    item = aws.dynamodb().get_item(TableName=settings.table("profiles"),
                                   Key={"pk": {"S": f"{ws}#u1"}, "sk": {"S": slot.counter_sk}})["Item"]

    assert item["kind"]["S"] == "fatigue"
    assert int(item["expires_at"]["N"]) == int(datetime(2026, 11, 27, 16, 0, tzinfo=timezone.utc).timestamp())


# --- redelivery and release -----------------------------------------------------------------

def test_a_redelivered_message_is_counted_once(ws):
    slot = slot_of()

    assert repo.take_slot(ws, "u1", slot, "journey#j1#n1#u1#e1")
    assert repo.take_slot(ws, "u1", slot, "journey#j1#n1#u1#e1")
    assert repo.counted(ws, "u1", slot.counter_sk) == 1


def test_a_redelivery_of_a_counted_message_is_still_sent_when_the_counter_is_full(ws):
    slot = slot_of()
    for i in range(3):
        repo.take_slot(ws, "u1", slot, f"m{i}")

    assert repo.take_slot(ws, "u1", slot, "m1")  # the write's condition fails; the old item shows m1 counted
    decision = admit_batch(ws, "Asia/Shanghai", {"sms": CAP_3}, [Recipient("m2", "u1", "sms")], NOW)["m2"]
    assert decision == Send(slot)  # the read shows it counted: no write at all
    assert repo.counted(ws, "u1", slot.counter_sk) == 3


def test_a_failed_send_gives_its_place_back_once(ws):
    slot = slot_of()
    for i in range(3):
        repo.take_slot(ws, "u1", slot, f"m{i}")

    assert repo.release_slot(ws, "u1", slot.counter_sk, "m1")
    assert not repo.release_slot(ws, "u1", slot.counter_sk, "m1")
    assert not repo.release_slot(ws, "u1", slot.counter_sk, "never-counted")
    assert repo.counted(ws, "u1", slot.counter_sk) == 2
    assert repo.take_slot(ws, "u1", slot, "m3")
    assert not repo.take_slot(ws, "u1", slot, "m4")


def test_releasing_the_only_place_leaves_a_counter_that_counts_again(ws):
    slot = slot_of()
    repo.take_slot(ws, "u1", slot, "m0")

    assert repo.release_slot(ws, "u1", slot.counter_sk, "m0")
    assert repo.counted(ws, "u1", slot.counter_sk) == 0
    assert all(repo.take_slot(ws, "u1", slot, f"n{i}") for i in range(3))


# --- consent and suppression ------------------------------------------------------------------

def test_a_batchs_consent_suppressions_and_counters_are_read_in_one_batch_get(ws):
    repo.unsubscribe(ws, "u2", "sms", NOW)
    repo.suppress(ws, "sms", "+86 138 0013 8003", "hard_bounce", NOW)
    for i in range(3):
        repo.take_slot(ws, "u4", slot_of(), f"earlier{i}")
    recipients = [Recipient(f"m{i}", f"u{i}", "sms", f"+8613800138{i:03d}") for i in range(1, 6)]

    with dynamodb_calls() as calls:
        decisions = admit_batch(ws, "Asia/Shanghai", {"sms": CAP_3}, recipients, NOW)

    assert calls.count("BatchGetItem") == 1
    assert calls.count("UpdateItem") == 2  # u1 and u5 take a place; u4's full counter was read
    assert decisions["m1"] == decisions["m5"] == Send(slot_of())
    assert decisions["m2"] == Drop("dropped_suppressed", "the user unsubscribed from sms")
    assert decisions["m3"] == Drop("dropped_suppressed", "the address is on the sms suppression list (hard_bounce)")
    assert isinstance(decisions["m4"], Drop) and decisions["m4"].status == "dropped_fatigue"


def test_a_suppressed_or_unsubscribed_message_takes_no_place(ws):
    repo.suppress(ws, "email", "Ann@Example.com", "complaint", NOW)
    decision = admit_batch(ws, "UTC", {"email": FatigueRule("email", max_messages=1, period="day")},
                           [Recipient("m1", "u1", "email", "ann@example.COM")], NOW)["m1"]

    assert isinstance(decision, Drop) and decision.status == "dropped_suppressed"
    assert repo.counted(ws, "u1", "fatigue#email#day#2026-11-26") == 0


def test_suppression_reasons_add_up_and_keep_the_first_time(ws):
    later = datetime(2026, 12, 1, tzinfo=timezone.utc)
    repo.suppress(ws, "email", "ann@example.com", "unsubscribe", NOW)
    repo.suppress(ws, "email", "ANN@example.com", "hard_bounce", later)

    found = repo.suppression(ws, "email", "ann@example.com")
    assert found is not None
    assert found.reasons == {"unsubscribe", "hard_bounce"} and found.first_at == "2026-11-26T03:00:00.000Z"
    assert repo.suppression(ws, "sms", "ann@example.com") is None


def test_transactional_messages_skip_caps_and_quiet_hours_but_not_a_bounce(ws):
    repo.suppress(ws, "email", "bounced@example.com", "hard_bounce", NOW)
    repo.unsubscribe(ws, "u1", "email", NOW)
    rule = FatigueRule("email", max_messages=1, period="day", quiet_hours=QuietHours.parse("10:00", "12:00"))
    recipients = [Recipient("reset1", "u1", "email", "u1@example.com", exempt=True),
                  Recipient("reset2", "u2", "email", "bounced@example.com", exempt=True),
                  Recipient("promo", "u3", "email", "u3@example.com")]

    decisions = admit_batch(ws, "Asia/Shanghai", {"email": rule}, recipients, NOW)

    assert decisions["reset1"] == Send(None)
    assert isinstance(decisions["reset2"], Drop) and decisions["reset2"].status == "dropped_suppressed"
    assert isinstance(decisions["promo"], Defer)
    assert decisions["promo"].until == datetime(2026, 11, 26, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shanghai


def test_the_consent_of_one_workspace_is_not_read_for_another(ws):
    other = ids.new_id("ws")
    repo.unsubscribe(other, "u1", "sms", NOW)
    repo.suppress(other, "sms", "+8613800138000", "manual", NOW)

    decision = admit_batch(ws, "UTC", {}, [Recipient("m", "u1", "sms", "+8613800138000")], NOW)["m"]

    assert decision == Send(None)
