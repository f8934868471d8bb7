"""The customer-service window of chat channels: how long after a user's last message a
business may answer with free-form messages. Pure: storage is ``repo_service_window``.

WhatsApp Cloud API: 24 hours after the user's last message (outside it, only approved
template messages; free-form fails with error 131047). WeChat Official Accounts: 48 hours
after the user's last interaction for customer-service messages (``message/custom/send``;
outside it WeChat answers 45015). Channels without a window (Viber, push) are always open.
"""
from __future__ import annotations

from datetime import datetime, timedelta

WINDOWS: dict[str, timedelta] = {
    "whatsapp": timedelta(hours=24),
    "wechat": timedelta(hours=48),
}
# How long the stored item outlives its window (TTL): a day, so a late read still sees it.
KEEP = timedelta(days=1)


def has_window(channel: str) -> bool:
    return channel in WINDOWS


def open_until(channel: str, last_inbound_at: datetime | None) -> datetime | None:
    """When the window opened by the user's last message closes (None: never opened)."""
    if last_inbound_at is None or channel not in WINDOWS:
        return None
    return last_inbound_at + WINDOWS[channel]


def is_open(channel: str, last_inbound_at: datetime | None, now: datetime) -> bool:
    """Whether a free-form message may be sent now (always, on channels without a window)."""
    if channel not in WINDOWS:
        return True
    until = open_until(channel, last_inbound_at)
    return until is not None and now < until


def outside_reason(channel: str) -> str:
    """The failure reason of a free-form message sent outside the window."""
    hours = int(WINDOWS[channel].total_seconds() // 3600) if channel in WINDOWS else 0
    return f"outside the {hours}-hour customer-service window"


def expires_at(channel: str, last_inbound_at: datetime) -> int:
    """The TTL (unix seconds) of the stored window item."""
    return int((last_inbound_at + WINDOWS.get(channel, timedelta(0)) + KEEP).timestamp())
