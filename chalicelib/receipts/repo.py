"""The receipts handler's DynamoDB calls, returning plain data.

* find:  one Query per provider message id on the keys-only ``by_provider_id`` index
         (GSIs cannot be batch-read), run on a few threads (none for receipts that name
         our message key: ``applier.apply_keyed``);
* read:  one BatchGetItem (strongly consistent) for the messages found;
* write: the batch's changed messages in one transaction (up to 90 a transaction), each
         an UpdateItem conditioned on ``version = :read``, with one ``ADD`` per counter
         owner summing the batch's increments: counts move with the statuses or not at all.
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from chalicelib import clock, dynamo
from chalicelib.config import settings
from chalicelib.counters import repo as counters_repo
from chalicelib.models.messages import HistoryEntry, MessageItem
from chalicelib.receipts.apply import Change, Stored
from chalicelib.sending import repo_messages
from chalicelib.sending.messages import CLAIMED, HistoryItem

FIND_CONCURRENCY = 8


def find(workspace_id: str, provider: str, provider_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """provider message id -> (pk, sk) of its message, for the ids found."""
    unique = list(dict.fromkeys(provider_ids))

    def one(pid: str) -> tuple[str, tuple[str, str] | None]:
        return pid, repo_messages.find_by_provider_id(workspace_id, provider, pid)

    if len(unique) <= 1:
        pairs = [one(pid) for pid in unique]
    else:
        first = one(unique[0])  # builds the client before the threads share it
        with ThreadPoolExecutor(max_workers=min(FIND_CONCURRENCY, len(unique) - 1)) as pool:
            pairs = [first, *pool.map(one, unique[1:])]
    return {pid: key for pid, key in pairs if key is not None}


def read(keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], Stored]:
    table = settings.table("messages")
    found = dynamo.batch_get({table: [dynamo.key(pk, sk) for pk, sk in dict.fromkeys(keys)]})[table]
    items = [MessageItem.from_raw_data(raw) for raw in found]
    claimed = {(i.pk, i.sk) for i in items if i.status == CLAIMED}
    out = {}
    for item in repo_messages.settle_items(items):
        # A message its call's outcomes item lists as sent is settled by the receipt's write.
        settled = (item.pk, item.sk) in claimed and item.status != CLAIMED
        out[(item.pk, item.sk)] = _stored(item, settled)
    return out


def read_one(key: tuple[str, str]) -> Stored | None:
    return read([key]).get(key)


def _stored(item: MessageItem, settled: bool = False) -> Stored:
    owners = tuple(sorted(item.counter_owners)) if item.counter_owners else _owners_from_key(item)
    return Stored(
        pk=item.pk, sk=item.sk, workspace_id=item.workspace_id, user_id=item.user_id, channel=item.channel,
        status=item.status, version=int(item.version),
        history=tuple(HistoryItem(h.status, h.at, h.reason) for h in item.history or ()),
        counted=frozenset(item.counted or ()), click_keys=frozenset(item.click_keys or ()), owners=owners,
        provider=item.provider,
        settle=((item.provider_message_id, float(item.cost) if item.cost is not None else None, item.count_batch,
                 frozenset(item.batch_counts or ())) if settled else None),
    )


def _owners_from_key(item: MessageItem) -> tuple[str, ...]:
    """Owners of a message written before ``counter_owners`` existed: from its keys."""
    parts = item.pk.split("#")
    if len(parts) >= 4 and parts[1] == "task":
        owners = [f"task#{'#'.join(parts[2:-1])}"]
    elif len(parts) >= 4 and parts[1] == "journey":
        owners = [f"journey#{'#'.join(parts[2:-1])}#node#{item.sk.split('#', 1)[0]}"]
    else:
        owners = []
    if item.campaign_id:
        owners.append(f"campaign#{item.campaign_id}")
    return tuple(owners)


def update_for(stored: Stored, change: Change, now_iso: str) -> counters_repo.CountedUpdate:
    """The conditional update (``version = :read``) that stores a change, with its counts."""
    actions: list[Any] = [MessageItem.version.add(1)]
    if change.moved:
        actions += [MessageItem.status.set(change.status), MessageItem.status_at.set(now_iso),
                    MessageItem.history.set([HistoryEntry(status=h.status, at=h.at, reason=h.reason)
                                             for h in change.history])]
        if change.reason:
            actions.append(MessageItem.reason.set(change.reason))
    if change.counted != stored.counted:
        actions.append(MessageItem.counted.set(set(change.counted)))
    if change.new_click_keys:
        actions.append(MessageItem.click_keys.add(set(change.new_click_keys)))
    if stored.settle is not None:  # read as sent from its call's outcomes item: store what that says
        pid, cost, count_batch, batch_counts = stored.settle
        actions += [MessageItem.claim_token.remove(), MessageItem.lease_until.remove()]
        actions += [a for a in (
            MessageItem.provider_message_id.set(pid) if pid else None,
            MessageItem.cost.set(cost) if cost is not None else None,
            MessageItem.count_batch.set(count_batch) if count_batch else None,
            MessageItem.batch_counts.set(set(batch_counts)) if batch_counts else None) if a is not None]
        if not change.moved:  # its history and status too, when the receipt does not move it
            actions += [MessageItem.status.set(stored.status), MessageItem.status_at.set(stored.history[-1].at),
                        MessageItem.history.set([HistoryEntry(status=h.status, at=h.at, reason=h.reason)
                                                 for h in stored.history])]
    return counters_repo.CountedUpdate(MessageItem(stored.pk, stored.sk), actions, MessageItem.version == stored.version,
                                       stored.workspace_id, stored.owners, change.deltas,
                                       _counted_at(change.counted_at, clock.parse_iso(now_iso)))


def _counted_at(at: str | None, now: datetime) -> datetime:
    """The hour the counts go to: the receipt's time (a late receipt counts on its day), or
    now for one from the future or without a usable time."""
    try:
        return min(clock.parse_iso(at), now) if at else now
    except clock.BadTime:
        return now


def write_all(updates: Sequence[counters_repo.CountedUpdate]) -> list[bool]:
    """Store the changes of a batch and their counters (``counters.repo.commit``); False for
    a message another writer changed since it was read."""
    return counters_repo.commit(updates)
