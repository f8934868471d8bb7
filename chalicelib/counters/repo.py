"""Counters' storage: shards of an owner's counters in the messages table.

An owner (a task, a journey node, a campaign) has ``SHARDS`` counter items under one
partition key, ``<ws>#counters#<owner>``, sort keys ``shard#00``..: each write picks a
shard at random, so a hot task spreads its increments over several items (DynamoDB can
split a hot partition by sort key range; it can never split one item), and a read is one
Query of the partition, summed.

Counters are only ever written inside the transaction that changes a message's status
(``update_action``), so an increment happens if and only if the status change does.
"""
from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from chalicelib.counters.counting import FIELDS, total
from chalicelib.models.messages import CounterItem

SHARDS = 10


def counter_pk(workspace_id: str, owner: str) -> str:
    return f"{workspace_id}#counters#{owner}"


def shard_sk(shard: int) -> str:
    return f"shard#{shard:02d}"


def add_to_transaction(tx: Any, workspace_id: str, owners: list[str], deltas: Mapping[str, float]) -> None:
    """Add one ``ADD`` update per owner (a random shard each) to a PynamoDB transaction."""
    if not deltas:
        return
    for owner in owners:
        item = CounterItem(counter_pk(workspace_id, owner), shard_sk(random.randrange(SHARDS)))
        actions = [getattr(CounterItem, name).add(value) for name, value in deltas.items()]
        actions.append(CounterItem.kind.set(CounterItem))
        tx.update(item, actions=actions)


def read(workspace_id: str, owner: str) -> dict[str, float]:
    """An owner's counters (every field, 0 when never counted): one strongly consistent Query."""
    shards = []
    for item in CounterItem.query(counter_pk(workspace_id, owner), consistent_read=True):
        shards.append({name: float(getattr(item, name) or 0) for name in FIELDS})
    return total(shards)
