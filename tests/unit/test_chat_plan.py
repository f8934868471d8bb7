"""Chat campaign plans, pure: run times inside the period, derived statuses."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.chat import campaigns as rules
from chalicelib.chat.campaigns import ChatCampaign, Plan, Status

START = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def chat(every=2, unit="hour", days=1, status=Status.pending):
    end = START + timedelta(days=days)
    return ChatCampaign("c", "n", None, "j", "a", START.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
                        end.strftime("%Y-%m-%dT%H:%M:%S.000Z"), Plan(every, unit), status, 1, "t", "t")


def test_runs_start_at_the_start_and_repeat_every_period_before_the_end():
    runs = rules.runs_between(chat(), None, START + timedelta(days=2))
    assert runs[0] == START and runs[-1] == START + timedelta(hours=22) and len(runs) == 12


def test_the_status_follows_the_clock_and_paused_is_kept():
    assert rules.status(chat(), START - timedelta(minutes=1)) is Status.pending
    assert rules.status(chat(), START) is Status.in_progress
    assert rules.status(chat(status=Status.paused), START + timedelta(hours=1)) is Status.paused
    assert rules.status(chat(status=Status.paused), START + timedelta(days=1)) is Status.ended


@given(st.integers(1, 90), st.sampled_from(["minute", "hour", "day"]), st.integers(0, 3000), st.integers(0, 3000))
def test_consecutive_windows_cover_every_run_once(every, unit, a, b):
    c = chat(every, unit, days=3)
    first, second = sorted((START + timedelta(minutes=a), START + timedelta(minutes=a + b)))
    together = rules.runs_between(c, None, first) + rules.runs_between(c, first, second)
    assert together == rules.runs_between(c, None, second)
