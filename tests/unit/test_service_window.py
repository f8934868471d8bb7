"""The customer-service window, pure: 24 hours on WhatsApp, 48 on WeChat, none elsewhere."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from chalicelib.sending import service_window

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def test_whatsapp_is_open_for_24_hours_after_the_users_last_message():
    assert service_window.is_open("whatsapp", NOW - timedelta(hours=23, minutes=59), NOW)
    assert not service_window.is_open("whatsapp", NOW - timedelta(hours=24), NOW)
    assert service_window.open_until("whatsapp", NOW) == NOW + timedelta(hours=24)


def test_wechat_is_open_for_48_hours():
    assert service_window.is_open("wechat", NOW - timedelta(hours=47), NOW)
    assert not service_window.is_open("wechat", NOW - timedelta(hours=48, seconds=1), NOW)


def test_a_user_who_never_wrote_has_no_window_and_channels_without_one_are_always_open():
    assert not service_window.is_open("whatsapp", None, NOW)
    assert service_window.open_until("whatsapp", None) is None
    assert service_window.is_open("viber", None, NOW)


def test_the_reason_names_the_channels_window():
    assert service_window.outside_reason("whatsapp") == "outside the 24-hour customer-service window"
    assert service_window.outside_reason("wechat") == "outside the 48-hour customer-service window"


def test_the_stored_item_outlives_its_window_by_a_day():
    assert service_window.expires_at("whatsapp", NOW) == int((NOW + timedelta(hours=48)).timestamp())
