"""The receipts handler's DynamoDB calls, returning plain data.

* find:  one Query per provider message id on the keys-only ``by_provider_id`` index
         (GSIs cannot be batch-read), run on a few threads;
* read:  one BatchGetItem (strongly consistent) for the messages found;
* write: per message that changes, a transaction of the message's UpdateItem (condition
         ``version = :read``) and its counter shards' ``ADD``s, so counts move with the
         status or not at all; a plain UpdateItem when nothing is counted (a repeated click).
"""
from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import dynamo
from chalicelib.config import settings
from chalicelib.counters import repo as counters_repo
from chalicelib.models.messages import HistoryEntry, MessageItem
from chalicelib.receipts.apply import Change, Stored
from chalicelib.sending import repo_messages
from chalicelib.sending.messages import HistoryItem

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
    out = {}
    for raw in found:
        item = MessageItem.from_raw_data(raw)
        out[(item.pk, item.sk)] = _stored(item)
    return out


def read_one(key: tuple[str, str]) -> Stored | None:
    return read([key]).get(key)


def _stored(item: MessageItem) -> Stored:
    owners = tuple(sorted(item.counter_owners)) if item.counter_owners else _owners_from_key(item)
    return Stored(
        pk=item.pk, sk=item.sk, workspace_id=item.workspace_id, user_id=item.user_id, channel=item.channel,
        status=item.status, version=int(item.version),
        history=tuple(HistoryItem(h.status, h.at, h.reason) for h in item.history or ()),
        counted=frozenset(item.counted or ()), click_keys=frozenset(item.click_keys or ()), owners=owners,
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


def write(stored: Stored, change: Change, now_iso: str) -> bool:
    """Store the change if the message is still at the version read; False when another
    writer got there first (read again and decide again)."""
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
    item = MessageItem(stored.pk, stored.sk)
    condition = MessageItem.version == stored.version
    try:
        with dynamo.lost_race_on_conflict():
            if change.deltas:
                with dynamo.transaction() as tx:
                    tx.update(item, actions=actions, condition=condition)
                    counters_repo.add_to_transaction(tx, stored.workspace_id, list(stored.owners), change.deltas)
            else:
                item.update(actions=actions, condition=condition)
        return True
    except dynamo.LostRace:
        return False
