"""Chat messages users send us (``InboundMessage``) become ``message_received`` events on
the sender's profile, through the events pipeline (``events.ingest``).

The profile is found by the sender's phone number (the ``by_phone`` index) for phone
channels; other channels' addresses (WeChat openids, Viber ids) have no index yet, so
their messages are logged and dropped. The event id is a hash of the provider's message
id, so a repeated delivery stores the same event once.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from chalicelib import logs
from chalicelib.events.ingest import enqueue_events
from chalicelib.events.messages import QueuedEvent
from chalicelib.profiles import repo as profiles
from chalicelib.receipts.queue import InboundMessages
from chalicelib.sending.consent import PHONE_CHANNELS, address_key

EVENT_NAME = "message_received"


def event_id(workspace_id: str, provider: str, message_key: str) -> str:
    return "in_" + hashlib.sha256(f"{workspace_id}\x00{provider}\x00{message_key}".encode()).hexdigest()[:24]


def to_events(batch: Sequence[InboundMessages], now: datetime) -> int:
    """Enqueue a ``message_received`` event per message whose sender has a profile; returns how many."""
    by_workspace: dict[str, list[QueuedEvent]] = defaultdict(list)
    for message in batch:
        for m in message.messages:
            if m.channel not in PHONE_CHANNELS:
                logs.logger.info("inbound message dropped: no profile lookup for this channel",
                                 extra={"channel": m.channel, "provider": message.provider})
                continue
            phone = address_key(m.channel, m.address)
            found = profiles.profiles_with_address(message.workspace_id, phone=phone, limit=2)
            if not found:
                logs.logger.info("inbound message dropped: no profile with this phone",
                                 extra={"channel": m.channel, "provider": message.provider})
                continue
            user_id = found[0].user_id
            key = m.provider_message_id or f"{m.address}\x00{m.at}\x00{m.text}"
            by_workspace[message.workspace_id].append(QueuedEvent(
                user_id=user_id, event_id=event_id(message.workspace_id, message.provider, key), name=EVENT_NAME,
                ts=m.at, properties={"channel": m.channel, "provider": message.provider, "text": m.text,
                                     "payload": m.payload, "provider_message_id": m.provider_message_id},
            ))
    for workspace_id, events in by_workspace.items():
        enqueue_events(workspace_id, events, now)
    return sum(len(e) for e in by_workspace.values())
