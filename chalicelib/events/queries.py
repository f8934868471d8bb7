"""Reading a user's stored events, newest first, optionally of one name."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import pagination
from chalicelib.events import repo
from chalicelib.events.schemas import Event, EventsQuery
from chalicelib.models.profiles import user_pk
from chalicelib.profiles.profiles import get_item


def to_api(record: repo.EventRecord) -> Event:
    return Event(event_id=record.event_id, user_id=record.user_id, name=record.name, timestamp=record.ts,
                 received_at=record.received_at, properties=record.properties)


def list_page(workspace_id: str, user_id: str, query: EventsQuery, now: datetime) -> dict[str, Any]:
    """Newest first. Expired events (TTL deletion lags up to days) are filtered out."""
    get_item(workspace_id, user_id)  # 404 for an unknown user
    start = pagination.decode(query.cursor, attribute="pk", expected=user_pk(workspace_id, user_id))
    records, last = repo.list_events(workspace_id, user_id, query.name, query.limit, start, now)
    return {"items": [to_api(r) for r in records], "next_cursor": pagination.encode(last)}
