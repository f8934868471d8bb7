"""Packing queued events into SQS message bodies."""
from __future__ import annotations

from datetime import datetime, timezone

from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.events.ingest import MESSAGE_BYTES, pack
from chalicelib.events.messages import EventsMessage, QueuedEvent
from chalicelib.events.schemas import EventIn

SQS_MAX_BYTES = 256 * 1024
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
WORKSPACE = "ws_test"
ENVELOPE = len(EventsMessage(workspace_id=WORKSPACE, received_at="2026-03-01T12:00:00.000Z", events=[]).model_dump_json())

json_values = st.one_of(st.integers(), st.booleans(), st.text(max_size=200), st.none())
queued_events = st.builds(
    QueuedEvent,
    user_id=st.text(min_size=1, max_size=20),
    event_id=st.uuids().map(str),
    name=st.sampled_from(["view", "click", "purchase"]),
    ts=st.just("2026-03-01T11:59:00.000Z"),
    properties=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
)


def event(i: int, **properties) -> QueuedEvent:
    return QueuedEvent(user_id=f"user-{i % 7}", event_id=f"ev{i:05d}", name="purchase",
                       ts="2026-03-01T11:59:00.000Z", properties=properties)


def unpacked(bodies: list[str]) -> list[QueuedEvent]:
    return [e for body in bodies for e in EventsMessage.model_validate_json(body).events]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(queued_events, max_size=40))
def test_bodies_are_events_messages_holding_the_events_in_order(events):
    bodies = pack(WORKSPACE, events, NOW)

    messages = [EventsMessage.model_validate_json(b) for b in bodies]
    assert all(m.workspace_id == WORKSPACE and m.received_at == "2026-03-01T12:00:00.000Z" for m in messages)
    assert all(m.events for m in messages)
    assert unpacked(bodies) == events


def test_no_events_make_no_bodies():
    assert pack(WORKSPACE, [], NOW) == []


def test_a_typical_batch_is_one_message():
    events = [event(i, amount=i, sku=f"sku-{i}") for i in range(500)]

    bodies = pack(WORKSPACE, events, NOW)

    assert len(bodies) == 1


def test_a_large_batch_is_split_into_messages_under_the_size_limit():
    events = [event(i, note="x" * 1000) for i in range(500)]

    bodies = pack(WORKSPACE, events, NOW)

    assert len(bodies) > 1
    assert all(len(b) <= MESSAGE_BYTES + ENVELOPE for b in bodies)
    assert all(len(b.encode()) < SQS_MAX_BYTES for b in bodies)
    assert unpacked(bodies) == events


def test_bodies_stay_under_the_sqs_byte_limit_with_non_ascii_properties():
    # Each event passes the API's 8 KB properties check (measured as ASCII-escaped JSON),
    # but is ~1,300 characters and ~3,900 UTF-8 bytes in the message body.
    note = "订单备注" * 325
    EventIn(user_id="u", name="purchase", properties={"note": note})
    events = [event(i, note=note) for i in range(300)]

    bodies = pack(WORKSPACE, events, NOW)

    assert unpacked(bodies) == events
    assert max(len(b.encode("utf-8")) for b in bodies) < SQS_MAX_BYTES
