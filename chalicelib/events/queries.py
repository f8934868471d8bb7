"""Reading a user's stored events, newest first (the sort key is time-ordered), optionally of one name."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import pagination
from chalicelib.events.schemas import Event, EventsQuery
from chalicelib.models.base import plain
from chalicelib.models.events import EVENTS_FROM, EVENTS_TO, EventItem
from chalicelib.models.profiles import user_pk
from chalicelib.profiles.profiles import get_item


def to_api(item: EventItem) -> Event:
    props = plain(item.properties)
    return Event(event_id=item.event_id, user_id=item.user_id, name=item.name, timestamp=item.ts,
                 received_at=item.received_at, properties=props)


def list_page(workspace_id: str, user_id: str, query: EventsQuery, now: datetime) -> dict[str, Any]:
    """Newest first. Expired events (TTL deletion lags up to days) are filtered out."""
    get_item(workspace_id, user_id)  # 404 for an unknown user
    pk = user_pk(workspace_id, user_id)
    start = pagination.decode(query.cursor, attribute="pk", expected=pk)
    condition = EventItem.expires_at > int(now.timestamp())
    if query.name:
        condition &= EventItem.name == query.name
    result = EventItem.query(
        pk, EventItem.sk.between(EVENTS_FROM, EVENTS_TO), filter_condition=condition,
        scan_index_forward=False, limit=query.limit, last_evaluated_key=start,
    )
    return pagination.page(result, to_api)
