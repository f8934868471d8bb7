"""When an event-entry bucket closes (pure)."""
from __future__ import annotations

from datetime import datetime, timezone

from chalicelib.journeys import gathering

UTC = timezone.utc


def test_a_bucket_closes_a_grace_after_its_windows_end():
    end = 1_000_000_005
    assert gathering.close_delay(end, datetime.fromtimestamp(end - 3.5, UTC)) == 5  # 3.5 s left + 1 s grace, rounded up


def test_a_bucket_first_written_after_its_window_waits_a_whole_window_for_the_rest_of_the_late_messages():
    end = 1_000_000_005
    late = datetime.fromtimestamp(end + 30, UTC)
    assert gathering.close_delay(end, late) == gathering.WINDOW_SECONDS + gathering.GRACE_SECONDS
