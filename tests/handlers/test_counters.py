"""Counter items on moto: an increment lands in the hour of the change that causes it, one
shard update per owner and hour in a transaction, and items from before hourly buckets
still count in totals."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from chalicelib import counters
from chalicelib.counters import repo
from chalicelib.models.messages import CounterItem, MessageItem

AT = datetime(2026, 11, 26, 9, 15, tzinfo=timezone.utc)


def ws() -> str:
    return "ws_" + uuid.uuid4().hex[:12]


def update(workspace_id: str, user: str, at: datetime) -> repo.CountedUpdate:
    item = MessageItem(f"{workspace_id}#task#t1#00", f"user#{user}")
    return repo.CountedUpdate(item, [MessageItem.status.set("delivered")], None, workspace_id,
                              ("task#t1", "campaign#c1"), {"delivered": 1}, at)


def test_changes_of_two_hours_in_one_commit_land_in_their_hours_and_add_up(app):
    workspace_id = ws()
    later = AT.replace(hour=10)

    assert repo.commit([update(workspace_id, "u1", AT), update(workspace_id, "u2", AT),
                        update(workspace_id, "u3", later)]) == [True, True, True]

    items = list(CounterItem.query(repo.counter_pk(workspace_id, "task#t1"), consistent_read=True))
    assert sorted((i.sk[:13], int(i.delivered)) for i in items) == [("2026-11-26T09", 2), ("2026-11-26T10", 1)]
    assert counters.read(workspace_id, "campaign#c1")["delivered"] == 3


def test_an_item_from_before_hourly_buckets_counts_in_totals_only(app):
    workspace_id = ws()
    CounterItem(repo.counter_pk(workspace_id, "task#t1"), "shard#03", sent=4).save()
    repo.commit([update(workspace_id, "u1", AT)])

    totals = counters.read(workspace_id, "task#t1")
    assert (totals["sent"], totals["delivered"]) == (4, 1)
    assert [b.hour for b in repo.buckets(workspace_id, "task#t1", AT.replace(hour=0), AT.replace(hour=23))] == [
        AT.replace(minute=0)]
