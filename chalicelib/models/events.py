"""The events table: a user's stored events, expiring by TTL (``expires_at``).

pk = "<workspace_id>#<user_id>"; sk = event_id, so the same event id for the same user
is one item (client retries and SQS redeliveries store it once).
LSI ``by_time`` (time_key = "<ts>#<event_id>") lists newest first; LSI ``by_name``
(name_time_key = "<name>#<ts>#<event_id>") counts or lists one event name in a window.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, LocalSecondaryIndex

from chalicelib.models.base import BaseModel, meta


class ByTime(LocalSecondaryIndex["EventItem"]):
    class Meta:
        index_name = "by_time"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    time_key = UnicodeAttribute(range_key=True)


class ByName(LocalSecondaryIndex["EventItem"]):
    class Meta:
        index_name = "by_name"
        projection = AllProjection()

    pk = UnicodeAttribute(hash_key=True)
    name_time_key = UnicodeAttribute(range_key=True)


class EventItem(BaseModel):
    Meta = meta("events")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    time_key = UnicodeAttribute()
    name_time_key = UnicodeAttribute()
    user_id = UnicodeAttribute()
    name = UnicodeAttribute()
    ts = UnicodeAttribute()
    received_at = UnicodeAttribute()
    properties: MapAttribute[str, Any] = MapAttribute(default=dict)
    expires_at = NumberAttribute()
    by_time = ByTime()
    by_name = ByName()
