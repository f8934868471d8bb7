"""Fatigue decisions over times and time zones: calendar periods in the workspace's zone,
quiet hours across midnight and across the nights clocks change."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.sending.fatigue import (
    Defer, Drop, FatigueRule, QuietHours, Send, admit, in_quiet_hours, message_digest, over_cap, period_end,
    period_key, quiet_hours_end, slot_state,
)

UTC = timezone.utc
ZONES = ["UTC", "America/New_York", "Europe/Berlin", "Asia/Shanghai", "Australia/Lord_Howe",
         "America/Santiago", "Asia/Kolkata", "Pacific/Chatham", "America/St_Johns", "Asia/Kathmandu"]
zones = st.sampled_from(ZONES)
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC))
minutes = st.integers(0, 24 * 60 - 1).map(lambda m: time(m // 60, m % 60))
quiet = st.tuples(minutes, minutes).filter(lambda p: p[0] != p[1]).map(lambda p: QuietHours(*p))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(moment: datetime, tz: str) -> datetime:
    return moment.astimezone(ZoneInfo(tz))


# --- calendar periods ------------------------------------------------------------------------

def test_a_shanghai_day_turns_at_shanghai_midnight_not_at_utc_midnight():
    before, after = utc(2026, 11, 26, 15, 59, 59), utc(2026, 11, 26, 16, 0)

    assert period_key(before, "Asia/Shanghai", "day") == "day#2026-11-26"
    assert period_key(after, "Asia/Shanghai", "day") == "day#2026-11-27"
    assert period_key(after, "UTC", "day") == "day#2026-11-26"


def test_a_week_starts_on_monday_and_a_month_on_the_first():
    sunday_night = utc(2026, 11, 29, 15, 0)  # Sunday 23:00 in Shanghai
    monday = utc(2026, 11, 29, 16, 0)  # Monday 00:00 in Shanghai

    assert period_key(sunday_night, "Asia/Shanghai", "week") == "week#2026-11-23"
    assert period_key(monday, "Asia/Shanghai", "week") == "week#2026-11-30"
    assert period_key(utc(2026, 11, 30, 16, 0), "Asia/Shanghai", "month") == "month#2026-12"
    assert period_key(utc(2026, 12, 31, 23, 0), "Asia/Shanghai", "month") == "month#2027-01"


@given(moments, zones, st.sampled_from(["day", "week", "month"]))
def test_a_period_ends_where_the_next_period_key_begins(now, tz, period):
    end = period_end(now, tz, period)

    assert end > now
    assert period_key(end - timedelta(seconds=1), tz, period) == period_key(now, tz, period)
    assert period_key(end, tz, period) != period_key(now, tz, period)
    start = date.fromisoformat(period_key(end, tz, period).split("#")[1] + ("-01" if period == "month" else ""))
    assert local(end, tz).date() == start  # at midnight, or later where the clocks jumped over it


def test_a_month_of_31_days_ends_at_local_midnight_on_the_first():
    assert period_end(utc(2026, 1, 31, 22, 0), "Europe/Berlin", "month") == utc(2026, 1, 31, 23, 0)
    assert period_end(utc(2028, 2, 29, 12, 0), "UTC", "month") == utc(2028, 3, 1)  # leap year


def test_a_day_when_clocks_go_forward_is_23_hours_long():
    start = utc(2026, 3, 8, 5, 0)  # New York midnight, EST
    end = period_end(start, "America/New_York", "day")

    assert end - start == timedelta(hours=23)


# --- quiet hours -------------------------------------------------------------------------------

NIGHT = QuietHours.parse("22:00", "08:00")


def test_quiet_hours_across_midnight_are_read_on_the_workspace_clock():
    assert in_quiet_hours(utc(2026, 11, 26, 14, 0), "Asia/Shanghai", NIGHT)  # 22:00 in Shanghai
    assert not in_quiet_hours(utc(2026, 11, 26, 13, 59), "Asia/Shanghai", NIGHT)
    assert in_quiet_hours(utc(2026, 11, 26, 23, 59), "Asia/Shanghai", NIGHT)  # 07:59
    assert not in_quiet_hours(utc(2026, 11, 27, 0, 0), "Asia/Shanghai", NIGHT)  # 08:00
    assert not in_quiet_hours(utc(2026, 11, 26, 14, 0), "UTC", NIGHT)


def test_quiet_hours_end_on_the_next_local_morning():
    assert quiet_hours_end(utc(2026, 11, 26, 15, 30), "Asia/Shanghai", NIGHT) == utc(2026, 11, 27, 0, 0)
    assert quiet_hours_end(utc(2026, 11, 26, 12, 0), "Asia/Shanghai", NIGHT) == utc(2026, 11, 26, 12, 0)


def test_quiet_hours_ending_inside_the_skipped_hour_end_when_clocks_jump():
    qh = QuietHours.parse("01:00", "02:30")  # New York skips 02:00-03:00 on 2026-03-08
    end = quiet_hours_end(utc(2026, 3, 8, 6, 30), "America/New_York", qh)  # 01:30 EST

    assert end == utc(2026, 3, 8, 7, 0)  # 03:00 EDT, the jump
    assert local(end, "America/New_York").time() == time(3, 0)


def test_quiet_hours_ending_in_the_repeated_hour_end_at_its_first_pass():
    qh = QuietHours.parse("23:00", "02:30")  # Berlin repeats 02:00-03:00 on 2026-10-25
    end = quiet_hours_end(utc(2026, 10, 24, 22, 0), "Europe/Berlin", qh)  # 00:00 CEST

    assert end == utc(2026, 10, 25, 0, 30)  # 02:30 CEST, not 02:30 CET an hour later


def test_clocks_going_back_before_the_start_end_quiet_hours_at_the_change():
    qh = QuietHours.parse("01:30", "06:00")  # New York goes from 02:00 EDT back to 01:00 EST
    end = quiet_hours_end(utc(2026, 11, 1, 5, 45), "America/New_York", qh)  # 01:45 EDT

    assert end == utc(2026, 11, 1, 6, 0)  # 01:00 EST: outside 01:30-06:00 for half an hour


def _brute_force_end(now: datetime, tz: str, qh: QuietHours) -> datetime:
    moment = now
    while in_quiet_hours(moment, tz, qh):
        moment += timedelta(minutes=1)
    return moment


@settings(max_examples=150, deadline=None)
@given(moments.map(lambda m: m.replace(second=0, microsecond=0)), zones, quiet)
def test_quiet_hours_end_is_the_first_minute_outside_them(now, tz, qh):
    """Zones with whole-minute offsets and minute-aligned times, so a minute walk is exact."""
    end = quiet_hours_end(now, tz, qh)

    assert end == _brute_force_end(now, tz, qh)
    assert not in_quiet_hours(end, tz, qh)


@settings(max_examples=200, deadline=None)
@given(moments, zones, quiet)
def test_quiet_hours_end_is_never_before_now_and_is_outside_them(now, tz, qh):
    end = quiet_hours_end(now, tz, qh)

    assert end >= now
    assert not in_quiet_hours(end, tz, qh)
    assert end - now < timedelta(hours=25)
    if end > now:
        assert in_quiet_hours(end - timedelta(seconds=1), tz, qh)


# --- admit ------------------------------------------------------------------------------------

CAPPED = FatigueRule("sms", max_messages=3, period="day", quiet_hours=NIGHT, quiet_action="defer")


def test_a_message_in_quiet_hours_is_deferred_to_the_local_morning():
    decision = admit(CAPPED, now=utc(2026, 11, 26, 15, 0), tz="Asia/Shanghai")

    assert isinstance(decision, Defer)
    assert decision.until == utc(2026, 11, 27, 0, 0)
    assert "22:00-08:00" in decision.reason


def test_the_same_moment_is_no_quiet_hour_for_a_workspace_in_another_zone():
    decision = admit(CAPPED, now=utc(2026, 11, 26, 15, 0), tz="Europe/Berlin")  # 16:00 in Berlin

    assert isinstance(decision, Send) and decision.slot is not None
    assert decision.slot.period_key == "day#2026-11-26"


def test_quiet_hours_with_drop_drop_with_the_fatigue_status():
    rule = FatigueRule("sms", quiet_hours=NIGHT, quiet_action="drop")
    decision = admit(rule, now=utc(2026, 11, 26, 15, 0), tz="Asia/Shanghai")

    assert isinstance(decision, Drop) and decision.status == "dropped_fatigue"


def test_a_capped_message_takes_a_slot_of_the_local_period_expiring_after_it():
    decision = admit(CAPPED, now=utc(2026, 11, 26, 23, 30), tz="Asia/Shanghai")  # 07:30 local on the 27th: quiet
    assert isinstance(decision, Defer)
    decision = admit(CAPPED, now=utc(2026, 11, 27, 1, 0), tz="Asia/Shanghai")

    assert isinstance(decision, Send) and decision.slot is not None
    assert decision.slot.counter_sk == "fatigue#sms#day#2026-11-27"
    assert decision.slot.expires_at == int(utc(2026, 11, 28, 16, 0).timestamp())  # period end + 1 day


def test_exempt_messages_skip_quiet_hours_and_caps():
    assert admit(CAPPED, now=utc(2026, 11, 26, 15, 0), tz="Asia/Shanghai", exempt=True) == Send(None)


def test_a_channel_without_a_rule_is_sent_uncounted():
    assert admit(None, now=utc(2026, 11, 26, 15, 0), tz="UTC") == Send(None)


def test_a_counter_read_tells_a_redelivery_from_a_full_counter():
    slot = admit(CAPPED, now=utc(2026, 11, 27, 1, 0), tz="Asia/Shanghai").slot  # type: ignore[union-attr]
    three = frozenset(message_digest(k) for k in ("a", "b", "c"))

    assert slot_state(slot, three, "b") == "counted"
    assert slot_state(slot, three, "d") == "full"
    assert slot_state(slot, frozenset(list(three)[:2]), "d") == "open"
    assert slot_state(slot, None, "d") == "open"
    assert over_cap(slot).status == "dropped_fatigue" and "3 sms messages per day" in over_cap(slot).reason


def test_message_digests_are_short_and_distinct():
    digests = {message_digest(f"task#t1#user{i}") for i in range(10_000)}

    assert len(digests) == 10_000 and {len(d) for d in digests} == {12}
