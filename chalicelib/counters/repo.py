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
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib import dynamo
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


MESSAGES_PER_TRANSACTION = 90  # of TransactWriteItems' 100 items: room for the counters of a few owners
TRANSACTION_TRIES = 6


@dataclass(frozen=True)
class CountedUpdate:
    """A conditional update of one message and what it counts, for ``commit``."""

    item: Any                 # the PynamoDB item (keys set)
    actions: list[Any]
    condition: Any
    workspace_id: str
    owners: tuple[str, ...]
    deltas: Mapping[str, float]


def commit(updates: Sequence[CountedUpdate]) -> list[bool]:
    """Write many message updates and their counters in as few transactions as fit: the
    increments of a transaction are summed per owner into one shard update, so a batch of
    N changes costs 2N + 2·owners write units instead of 4N. Returns, per update, whether
    it was written; an update whose condition failed is left out and the rest written
    again (a concurrent writer changed that message: the caller reads it and decides anew)."""
    written = [False] * len(updates)
    order = list(range(len(updates)))
    for start in range(0, len(order), MESSAGES_PER_TRANSACTION):
        _commit_part(updates, order[start:start + MESSAGES_PER_TRANSACTION], written)
    return written


def _commit_part(updates: Sequence[CountedUpdate], live: list[int], written: list[bool]) -> None:
    for attempt in range(TRANSACTION_TRIES):
        if not live:
            return
        sums: dict[tuple[str, str], dict[str, float]] = defaultdict(lambda: defaultdict(int))  # counts stay integers
        for i in live:
            for owner in updates[i].owners:
                for name, value in updates[i].deltas.items():
                    sums[(updates[i].workspace_id, owner)][name] += value
        try:
            with dynamo.transaction() as tx:
                for i in live:
                    tx.update(updates[i].item, actions=updates[i].actions, condition=updates[i].condition)
                for (workspace_id, owner), deltas in sums.items():
                    add_to_transaction(tx, workspace_id, [owner], deltas)
        except TransactWriteError as error:
            reasons = list(error.cancellation_reasons or [])
            lost = {live[j] for j, r in enumerate(reasons[:len(live)])
                    if r is not None and r.code == "ConditionalCheckFailed"}
            if lost:
                live = [i for i in live if i not in lost]
                continue
            if dynamo.is_retryable(error):  # a conflict with a concurrent transaction: again, after a pause
                dynamo.backoff(attempt)
                continue
            raise
        for i in live:
            written[i] = True
        return
    raise RuntimeError("counters: the transaction kept conflicting")
