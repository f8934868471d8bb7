"""The customer-service window's storage: touch only moves forward, read in one batch."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from chalicelib.sending import repo_service_window

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def test_touch_records_the_last_inbound_time_and_an_older_message_never_shortens_the_window(aws_backend):
    ws = "ws_" + uuid.uuid4().hex[:12]
    assert repo_service_window.touch(ws, "whatsapp", "16505551234", NOW)
    assert not repo_service_window.touch(ws, "whatsapp", "16505551234", NOW - timedelta(hours=1))
    assert repo_service_window.touch(ws, "whatsapp", "16505551234", NOW + timedelta(minutes=5))

    assert repo_service_window.last_inbound(ws, "whatsapp", ["16505551234"]) == \
        {"16505551234": NOW + timedelta(minutes=5)}


def test_open_until_reads_many_addresses_per_channel_and_workspace(aws_backend):
    ws = "ws_" + uuid.uuid4().hex[:12]
    repo_service_window.touch(ws, "whatsapp", "a", NOW)
    repo_service_window.touch(ws, "wechat", "a", NOW)
    repo_service_window.touch("ws_other", "whatsapp", "b", NOW)

    found = repo_service_window.open_until(ws, "whatsapp", ["a", "b", "c"])

    assert found == {"a": NOW + timedelta(hours=24)}
    assert repo_service_window.open_until(ws, "wechat", ["a"]) == {"a": NOW + timedelta(hours=48)}
    assert repo_service_window.open_until(ws, "whatsapp", []) == {}
