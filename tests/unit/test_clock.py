"""The clock: fixed-width ISO strings that sort as times do, offsets required, time only moves forward."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib import clock

SETTINGS = settings(max_examples=200, deadline=None)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timezone(timedelta(minutes=m)))
moments = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=offsets)


@pytest.fixture
def restore_clock():
    yield
    clock.set_offset(0)


def test_iso_is_utc_with_milliseconds():
    moment = datetime(2026, 11, 22, 9, 5, 7, 123_999, tzinfo=timezone(timedelta(hours=8)))

    assert clock.iso(moment) == "2026-11-22T01:05:07.123Z"


@SETTINGS
@given(moment=moments)
def test_iso_is_fixed_width(moment):
    assert len(clock.iso(moment)) == len("2026-01-01T00:00:00.000Z")


def test_iso_is_fixed_width_for_early_years():
    assert clock.iso(datetime(999, 1, 1, tzinfo=timezone.utc)) == "0999-01-01T00:00:00.000Z"


@SETTINGS
@given(times=st.lists(moments, min_size=2, max_size=10))
def test_iso_strings_sort_as_the_times_do(times):
    as_strings = sorted(clock.iso(t) for t in times)

    assert as_strings == [clock.iso(t) for t in sorted(times)]


@SETTINGS
@given(moment=moments)
def test_parse_iso_reads_back_iso_to_the_millisecond(moment):
    parsed = clock.parse_iso(clock.iso(moment))

    assert parsed == moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-22T09:00:00+08:00", datetime(2026, 11, 22, 1, 0, tzinfo=timezone.utc)),
    ("2026-11-22T09:00:00Z", datetime(2026, 11, 22, 9, 0, tzinfo=timezone.utc)),
    ("2026-11-22T09:00:00.500-05:30", datetime(2026, 11, 22, 14, 30, 0, 500_000, tzinfo=timezone.utc)),
])
def test_parse_iso_converts_an_offset_time_to_utc(text, expected):
    parsed = clock.parse_iso(text)

    assert parsed == expected and parsed.tzinfo == timezone.utc


@pytest.mark.parametrize("text", ["2026-11-22T09:00:00", "2026-11-22", "2026-11-22 09:00"])
def test_parse_iso_refuses_a_time_without_an_offset(text):
    with pytest.raises(ValueError, match="offset"):
        clock.parse_iso(text)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-13-01T00:00:00Z", "22/11/2026 09:00+08:00"])
def test_parse_iso_refuses_what_is_not_an_iso_time(text):
    with pytest.raises(ValueError):
        clock.parse_iso(text)


def test_advance_moves_now_forward_by_the_seconds_given(restore_clock):
    clock.set_offset(0)
    before = clock.now()

    after = clock.advance(3600)

    assert clock.offset_seconds() == 3600
    assert timedelta(hours=1) <= after - before < timedelta(hours=1, seconds=5)
    assert clock.now() >= after


def test_advance_adds_to_the_existing_offset(restore_clock):
    clock.set_offset(60)

    clock.advance(30)

    assert clock.offset_seconds() == 90


def test_the_clock_refuses_to_move_backwards(restore_clock):
    clock.set_offset(120)

    with pytest.raises(ValueError):
        clock.advance(-1)

    assert clock.offset_seconds() == 120


def test_now_is_utc():
    assert clock.now().utcoffset() == timedelta(0)
