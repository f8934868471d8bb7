"""What status changes count: each counter once per message, whatever the order or the
repetition of its receipts (counters.counting, receipts.apply; pure)."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.counters import counting
from chalicelib.receipts.apply import Incoming, Stored, apply
from chalicelib.sending.messages import HistoryItem

RECEIPT_STATUSES = ("delivered", "opened", "clicked", "failed", "bounced", "complained")


def sent() -> Stored:
    first = counting.on_status("sent", cost=0.02)
    return Stored("pk", "sk", "ws", "u1", "email", "sent", 3, (HistoryItem("sent", "t0"),), first.counted)


def test_a_send_counts_targeted_sent_and_its_cost():
    assert counting.on_status("sent", cost=0.02).deltas == {"targeted": 1, "sent": 1, "cost": 0.02}


def test_a_drop_counts_targeted_and_the_drop_and_a_release_counts_nothing():
    assert counting.on_status("dropped_fatigue").deltas == {"targeted": 1, "dropped_fatigue": 1}
    assert not counting.on_status("queued")


def test_an_open_before_its_delivery_counts_the_delivery_and_the_late_delivery_nothing():
    stored = sent()
    opened = apply(stored, [Incoming("opened", "t2")])
    assert opened.change is not None and opened.change.deltas == {"delivered": 1, "opened": 1}
    later = Stored(**{**stored.__dict__, "status": "opened", "counted": opened.change.counted})
    assert apply(later, [Incoming("delivered", "t1")]).change is None


def test_a_repeated_click_counts_once_and_another_click_counts_as_a_click_not_a_clicker():
    stored = sent()
    first = apply(stored, [Incoming("clicked", "t3", url="https://a"), Incoming("clicked", "t3", url="https://a")])
    assert first.change is not None and first.change.deltas == {"delivered": 1, "opened": 1, "unique_clicks": 1,
                                                               "clicked": 1}
    after = Stored(**{**stored.__dict__, "status": "clicked", "counted": first.change.counted,
                      "click_keys": first.change.new_click_keys})
    assert apply(after, [Incoming("clicked", "t3", url="https://a")]).change is None
    again = apply(after, [Incoming("clicked", "t9", url="https://b")])
    assert again.change is not None and again.change.deltas == {"clicked": 1} and not again.change.moved


def test_a_bounce_suppresses_and_counts_a_failure():
    outcome = apply(sent(), [Incoming("bounced", "t1", "550", address="a@example.com")])
    assert outcome.change is not None and outcome.change.deltas == {"failed": 1, "bounced": 1}
    assert [(s.address, s.reason) for s in outcome.suppress] == [("a@example.com", "hard_bounce")]


receipt = st.builds(Incoming, st.sampled_from(RECEIPT_STATUSES), st.sampled_from(["t1", "t2", "t3"]),
                    url=st.sampled_from([None, "https://a"]))


@given(st.lists(st.lists(receipt, min_size=1, max_size=4), min_size=1, max_size=6))
def test_any_batches_of_receipts_in_any_order_count_each_counter_at_most_once(batches):
    stored = sent()
    totals: dict[str, float] = {}
    for batch in batches + batches:  # every batch delivered twice
        outcome = apply(stored, batch)
        if outcome.change is None:
            continue
        for name, value in outcome.change.deltas.items():
            totals[name] = totals.get(name, 0) + value
        stored = Stored(**{**stored.__dict__, "status": outcome.change.status, "counted": outcome.change.counted,
                           "click_keys": stored.click_keys | outcome.change.new_click_keys})
    assert all(v == 1 for k, v in totals.items() if k != "clicked")
    assert totals.get("clicked", 0) <= 6  # distinct (time, link) pairs
    assert set(totals) - {"clicked"} <= counting.REACHED["clicked"] | counting.REACHED["bounced"] | {"complained"}
