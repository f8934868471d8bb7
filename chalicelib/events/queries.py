"""Reading a user's stored events, newest first, optionally of one name."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import pagination
from chalicelib.events.schemas import Event, EventsQuery
from chalicelib.models.base import plain
from chalicelib.models.events import EventItem
from chalicelib.models.profiles import user_pk
from chalicelib.profiles.profiles import get_item


def to_api(item: EventItem) -> Event:
    props = plain(item.properties)
    return Event(event_id=item.sk, user_id=item.user_id, name=item.name, timestamp=item.ts,
                 received_at=item.received_at, properties=props)


def list_page(workspace_id: str, user_id: str, query: EventsQuery, now: datetime) -> dict[str, Any]:
    """Newest first. Expired events (TTL deletion lags up to days) are filtered out."""
    get_item(workspace_id, user_id)  # 404 for an unknown user
    pk = user_pk(workspace_id, user_id)
    start = pagination.decode(query.cursor, attribute="pk", expected=pk)
    not_expired = EventItem.expires_at > int(now.timestamp())
    if query.name:
        result = EventItem.by_name.query(
            pk, EventItem.name_time_key.startswith(query.name + "#"), filter_condition=not_expired,
            scan_index_forward=False, limit=query.limit, last_evaluated_key=start,
        )
    else:
        result = EventItem.by_time.query(
            pk, filter_condition=not_expired, scan_index_forward=False, limit=query.limit, last_evaluated_key=start,
        )
    return pagination.page(result, to_api)
