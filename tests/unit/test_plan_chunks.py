"""Splitting queued events into chunks whose first read fits one BatchGetItem."""
from __future__ import annotations

import subprocess
import sys
import textwrap

from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.events.messages import QueuedEvent
from chalicelib.events.storing import MAX_KEYS_PER_READ, plan_chunks, read_keys
from tests.conftest import ROOT

queued_events = st.builds(
    QueuedEvent,
    user_id=st.sampled_from(["u1", "u2", "u3", "u4", "u5"]),
    event_id=st.uuids().map(str),
    name=st.sampled_from(["view", "click", "purchase"]),
    ts=st.just("2026-01-01T00:00:00.000Z"),
    properties=st.just({}),
    claim=st.booleans(),
)
event_lists = st.lists(queued_events, max_size=250)
limits = st.one_of(st.just(MAX_KEYS_PER_READ), st.integers(min_value=5, max_value=120))  # a claimed event of a new user: 5 keys


def transaction_items(chunk: list[QueuedEvent]) -> int:
    """Keys read: events and their claims + one aggregate per (user, name) + a profile and
    a tombstone per user (counted independently of the code under test)."""
    return (len(chunk) + sum(e.claim for e in chunk) + len({(e.user_id, e.name) for e in chunk})
            + 2 * len({e.user_id for e in chunk}))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_lists, limit=limits)
def test_every_chunk_fits_one_read(events, limit):
    chunks = plan_chunks(events, limit)

    assert all(transaction_items(chunk) <= limit for chunk in chunks)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_lists, limit=limits)
def test_chunks_hold_every_event_once_in_order_and_none_is_empty(events, limit):
    chunks = plan_chunks(events, limit)

    assert [e for chunk in chunks for e in chunk] == events
    assert all(chunk for chunk in chunks)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=event_lists, limit=limits)
def test_a_chunk_is_closed_only_when_the_next_event_would_not_fit(events, limit):
    chunks = plan_chunks(events, limit)

    for chunk, following in zip(chunks, chunks[1:]):
        assert transaction_items(chunk + following[:1]) > limit


def test_no_events_make_no_chunks():
    assert plan_chunks([]) == []


def test_read_keys_counts_as_the_specification_does():
    events = [QueuedEvent(user_id=u, event_id=str(i), name=n, ts="2026-01-01T00:00:00.000Z", properties={}, claim=c)
              for i, (u, n, c) in enumerate([("a", "x", False), ("a", "x", True), ("b", "y", False)])]
    assert read_keys(events) == transaction_items(events) == 3 + 1 + 2 + 4


def test_a_hundred_events_of_one_user_and_name_take_two_reads():
    events = [QueuedEvent(user_id="u", event_id=f"e{i}", name="view", ts="2026-01-01T00:00:00.000Z", properties={})
              for i in range(100)]

    chunks = plan_chunks(events)

    assert [len(c) for c in chunks] == [97, 3]


def test_importing_the_store_creates_no_aws_client():
    script = textwrap.dedent("""
        import os, botocore.session
        os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
        def refuse(*args, **kwargs):
            raise AssertionError("an AWS client was created at import time")
        botocore.session.Session.create_client = refuse
        import chalicelib.events.store, chalicelib.handlers.events
    """)

    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
