"""The due-work index's time buckets (pure)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.audiences.refresh import Refresh, next_due
from chalicelib.scheduling import buckets

NOW = datetime(2026, 5, 1, 9, 0, 30, tzinfo=timezone.utc)


def test_work_goes_in_its_minute_or_in_now_s_when_it_is_already_due() -> None:
    assert buckets.bucket_for(NOW + timedelta(minutes=90), NOW) == "2026-05-01T10:30"
    assert buckets.bucket_for(NOW - timedelta(days=3), NOW) == "2026-05-01T09:00"


def test_a_drain_reads_from_before_its_cursor_through_now() -> None:
    drained = buckets.to_drain("2026-05-01T08:50", NOW)
    assert drained[0] == "2026-05-01T08:45" and drained[-1] == "2026-05-01T09:00" and len(drained) == 16


def test_a_drain_without_a_cursor_looks_back_an_hour_and_a_long_outage_is_caught_up_in_steps() -> None:
    assert len(buckets.to_drain(None, NOW)) == 61
    week_ago = buckets.bucket_of(NOW - timedelta(days=7))
    assert len(buckets.to_drain(week_ago, NOW)) == buckets.MAX_BUCKETS_PER_RUN


def test_a_cursor_after_now_drains_around_now() -> None:
    assert buckets.to_drain("2026-06-01T00:00", NOW)[-1] == "2026-05-01T09:00"


def test_keys_round_trip_and_refuse_separators_in_kind_or_workspace() -> None:
    sk = buckets.work_sk("audience_refresh", "ws_1", "aud#odd")
    assert buckets.parse_sk(sk) == ("audience_refresh", "ws_1", "aud#odd")
    with pytest.raises(ValueError):
        buckets.work_sk("a#b", "ws", "x")


def test_the_next_refresh_keeps_to_its_period_after_a_late_run() -> None:
    due = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
    hourly = Refresh(every=1, unit="hour")
    assert next_due(due, hourly, due + timedelta(minutes=3)) == due + timedelta(hours=1)
    assert next_due(due, hourly, due + timedelta(hours=5, minutes=1)) == due + timedelta(hours=6)
    assert next_due(due, Refresh(every=2, unit="week"), due) == due + timedelta(weeks=2)
