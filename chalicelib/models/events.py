"""The events table: a user's stored events, in time order, expiring by TTL (``expires_at``).

pk = "<workspace_id>#<user_id>"; sk = "<ts>#<event_id>" for an event (``ts`` is the fixed
width UTC time, so the sort key orders a user's events by time and a time window is a
key range), or "id#<event_id>" for a claim: the time the server gave an event that came
with the client's id but no timestamp, so a client retry is stored at the same key.
No secondary index: both access patterns (newest first; one name in a window, counted)
are key-range queries on the table (docs/data-model.md has the arithmetic).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import DiscriminatorAttribute, MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel, meta

CLAIM_PREFIX = "id#"
# Every event sort key starts with a year from 1970 to 9999; claims sort after them.
EVENTS_FROM, EVENTS_TO = "0", "9\uffff"


def event_sk(ts: str, event_id: str) -> str:
    return f"{ts}#{event_id}"


def claim_sk(event_id: str) -> str:
    return CLAIM_PREFIX + event_id


class EventsTableItem(BaseModel):
    """Any item of the events table; ``kind`` says which."""

    Meta = meta("events")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()
    expires_at = NumberAttribute()


class EventItem(EventsTableItem, discriminator="event"):
    event_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    name = UnicodeAttribute()
    ts = UnicodeAttribute()
    received_at = UnicodeAttribute()
    properties: MapAttribute[str, Any] = MapAttribute(default=dict)


class ClaimItem(EventsTableItem, discriminator="claim"):
    """The time first given to a client event id that came without a timestamp."""

    ts = UnicodeAttribute()
