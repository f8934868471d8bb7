"""Chat messages users send us (``InboundMessage``) become ``message_received`` events on
the sender's profile, through the events pipeline (``events.ingest``), and open the
channel's customer-service window for their address (``repo_service_window.touch``: 24 h
on WhatsApp, 48 h on WeChat).

The profile is found by the sender's address on the sparse keys-only index of its channel:
``by_phone`` for SMS, ``by_whatsapp`` (then ``by_phone``) for WhatsApp, ``by_wechat`` for
WeChat, ``by_viber`` for Viber (one Query each). A message whose sender has no profile is
logged and dropped (its window still opens). The event id is a hash of the provider's
message id, so a repeated delivery stores the same event once.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from chalicelib import clock, logs
from chalicelib.events.ingest import enqueue_events
from chalicelib.events.messages import QueuedEvent
from chalicelib.profiles import repo as profiles
from chalicelib.receipts.queue import InboundMessages
from chalicelib.sending import repo_service_window, service_window
from chalicelib.sending.consent import address_key

# inbound channel -> the profile fields that may hold its sender's address, in order
LOOKUPS: dict[str, tuple[str, ...]] = {
    "sms": ("phone",),
    "whatsapp": ("whatsapp", "phone"),
    "wechat": ("wechat_openid",),
    "viber": ("viber",),
}


def profile_address(channel: str, address: str) -> str:
    """The address as profiles store it: phone numbers in E.164 (WhatsApp sends the digits
    without '+'), anything else as given."""
    value = address.strip()
    if channel in ("sms", "whatsapp") and value.isdigit():
        value = "+" + value
    return address_key(channel, value)


def find_user(workspace_id: str, channel: str, address: str) -> str | None:
    """The user whose profile holds this address for the channel (None: nobody)."""
    for field in LOOKUPS.get(channel, ()):
        if field == "phone":
            found = [p.user_id for p in profiles.profiles_with_address(workspace_id, phone=address, limit=2)]
        else:
            found = profiles.users_with_chat_address(workspace_id, field, address)
        if found:
            return found[0]
    return None


EVENT_NAME = "message_received"


def event_id(workspace_id: str, provider: str, message_key: str) -> str:
    return "in_" + hashlib.sha256(f"{workspace_id}\x00{provider}\x00{message_key}".encode()).hexdigest()[:24]


def to_events(batch: Sequence[InboundMessages], now: datetime) -> int:
    """Open each message's customer-service window, and enqueue a ``message_received``
    event per message whose sender has a profile; returns how many events."""
    by_workspace: dict[str, list[QueuedEvent]] = defaultdict(list)
    for message in batch:
        for m in message.messages:
            address = profile_address(m.channel, m.address)
            if service_window.has_window(m.channel):
                repo_service_window.touch(message.workspace_id, m.channel, address, clock.parse_iso(m.at))
            if m.channel not in LOOKUPS:
                logs.logger.info("inbound message dropped: no profile lookup for this channel",
                                 extra={"channel": m.channel, "provider": message.provider})
                continue
            user_id = find_user(message.workspace_id, m.channel, address)
            if user_id is None:
                logs.logger.info("inbound message dropped: no profile with this address",
                                 extra={"channel": m.channel, "provider": message.provider})
                continue
            key = m.provider_message_id or f"{m.address}\x00{m.at}\x00{m.text}"
            by_workspace[message.workspace_id].append(QueuedEvent(
                user_id=user_id, event_id=event_id(message.workspace_id, message.provider, key), name=EVENT_NAME,
                ts=m.at, properties={"channel": m.channel, "provider": message.provider, "text": m.text,
                                     "payload": m.payload, "provider_message_id": m.provider_message_id},
            ))
    for workspace_id, events in by_workspace.items():
        enqueue_events(workspace_id, events, now)
    return sum(len(e) for e in by_workspace.values())
