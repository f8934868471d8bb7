"""Counters' storage: hourly, sharded counter items in the messages table.

An owner's counters live under one partition key and are split by time: the sort key is
``<UTC hour>#<shard>`` (``2026-11-26T23#2``), so an increment goes to the hour of the
status change that causes it (the send's or the receipt's time, passed as ``at``, not the
time of the write: a late receipt counts on the day it happened). Totals are the sum of
every bucket; a daily series regroups the hours into days of any time zone (``analytics``).

A journey's nodes share the journey's partition, ``<ws>#counters#journey#<id>``, with sort
keys ``<UTC hour>#node#<node id>#<shard>``: one Query reads the whole journey, by period,
and the sort key says which node each item is for.

Each write picks one of ``SHARDS`` items of its hour at random: a hot task's increments
spread over a few items (DynamoDB can split a hot partition by sort key range, never one
item, and concurrent transactions on one item conflict). Items written before the hourly
buckets (sort key ``shard#<nn>``) still count in totals, never in a daily series.

Counters are only ever written inside the transaction that changes a message's status
(``add_to_transaction``, ``commit``), so an increment happens if and only if the status
change does; and a transaction carries one update per owner (and hour) however many
messages it changes: the daily series costs no extra write.
"""
from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from pynamodb.exceptions import TransactWriteError

from chalicelib import dynamo
from chalicelib.counters.counting import FIELDS, total
from chalicelib.models.messages import CounterItem

SHARDS = 4             # items per owner and hour (see docs/data-model.md "Counters")
TRANSACTION_ITEMS = 100  # TransactWriteItems' limit: messages plus counter updates
NODE = "#node#"
_HOUR = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}#")
_HOUR_FORMAT = "%Y-%m-%dT%H"


def hour_of(at: datetime) -> str:
    """The UTC hour bucket of a moment: ``2026-11-26T23``."""
    return at.astimezone(timezone.utc).strftime(_HOUR_FORMAT)


def parse_hour(bucket: str) -> datetime:
    return datetime.strptime(bucket, _HOUR_FORMAT).replace(tzinfo=timezone.utc)


def place(owner: str) -> tuple[str, str | None]:
    """The partition owner and the part inside it: a journey node's counters live in its
    journey's partition (``journey#<id>``, part = the node id); others in their own."""
    if owner.startswith("journey#") and NODE in owner:
        journey, node = owner.split(NODE, 1)
        return journey, node
    return owner, None


def counter_pk(workspace_id: str, owner: str) -> str:
    return f"{workspace_id}#counters#{place(owner)[0]}"


def counter_sk(owner: str, at: datetime, shard: int) -> str:
    part = place(owner)[1]
    return f"{hour_of(at)}{NODE}{part}#{shard}" if part is not None else f"{hour_of(at)}#{shard}"


def add_to_transaction(tx: Any, workspace_id: str, owners: Sequence[str], deltas: Mapping[str, float],
                       at: datetime) -> None:
    """Add one ``ADD`` update per owner (a random shard of ``at``'s hour) to a PynamoDB transaction."""
    if not deltas:
        return
    for owner in owners:
        item = CounterItem(counter_pk(workspace_id, owner), counter_sk(owner, at, random.randrange(SHARDS)))
        actions = [getattr(CounterItem, name).add(value) for name, value in deltas.items()]
        actions.append(CounterItem.kind.set(CounterItem))
        tx.update(item, actions=actions)


@dataclass(frozen=True)
class Bucket:
    """One counter item as read: its hour (None for an item older than hourly buckets), the
    part of the partition it is for (a journey's node; None otherwise), and its counts."""

    hour: datetime | None
    part: str | None
    counts: dict[str, float]


def _bucket(item: CounterItem) -> Bucket:
    counts = {name: float(getattr(item, name) or 0) for name in FIELDS}
    if not _HOUR.match(item.sk):
        return Bucket(None, None, counts)
    rest = item.sk[13:]  # "#<shard>" or "#node#<node>#<shard>"
    part = rest[len(NODE):].rsplit("#", 1)[0] if rest.startswith(NODE) else None
    return Bucket(parse_hour(item.sk[:13]), part, counts)


def buckets(workspace_id: str, owner: str, start: datetime | None = None, end: datetime | None = None, *,
            consistent: bool = True) -> list[Bucket]:
    """The counter items of an owner's partition (a task, a campaign, a whole journey:
    ``journey#<id>``), all of them or those of the hours that start in [start, end): one
    Query, paged at 1 MB (see docs/data-model.md for what that costs)."""
    condition = None
    if start is not None or end is not None:
        lo = hour_of(start) if start is not None else "0000"
        hi = hour_of(end - timedelta(hours=1)) + "#\uffff" if end is not None else "9999"
        condition = CounterItem.sk.between(lo, hi)
    found = CounterItem.query(counter_pk(workspace_id, owner), condition, consistent_read=consistent)
    return [_bucket(item) for item in found]


def exists(workspace_id: str, owner: str) -> bool:
    """Whether an owner's partition holds any counter (a Query of one item)."""
    return next(iter(CounterItem.query(counter_pk(workspace_id, owner), limit=1)), None) is not None


def read(workspace_id: str, owner: str) -> dict[str, float]:
    """An owner's counters over all time (every field, 0 when never counted); for a journey
    node, that node's. One strongly consistent Query of the owner's partition."""
    part = place(owner)[1]
    return total(b.counts for b in buckets(workspace_id, owner) if b.part == part)


@dataclass(frozen=True)
class CountedUpdate:
    """A conditional update of one message and what it counts, for ``commit``."""

    item: Any                 # the PynamoDB item (keys set)
    actions: list[Any]
    condition: Any
    workspace_id: str
    owners: tuple[str, ...]
    deltas: Mapping[str, float]
    at: datetime              # when the counted change happened (the send, the receipt): its hour bucket


TRANSACTION_TRIES = 6


def _counter_keys(update: CountedUpdate) -> set[tuple[str, str, str]]:
    if not update.deltas:
        return set()
    return {(update.workspace_id, owner, hour_of(update.at)) for owner in update.owners}


def parts(updates: Sequence[CountedUpdate]) -> list[list[int]]:
    """Split the updates into transactions: each holds its messages plus one counter update
    per (owner, hour) they touch, within TransactWriteItems' 100 items."""
    out: list[list[int]] = []
    current: list[int] = []
    keys: set[tuple[str, str, str]] = set()
    for i, update in enumerate(updates):
        mine = _counter_keys(update)
        if current and len(current) + 1 + len(keys | mine) > TRANSACTION_ITEMS:
            out.append(current)
            current, keys = [], set()
        current.append(i)
        keys |= mine
    if current:
        out.append(current)
    return out


def commit(updates: Sequence[CountedUpdate]) -> list[bool]:
    """Write many message updates and their counters in as few transactions as fit: the
    increments of a transaction are summed per owner and hour into one shard update, so a
    batch of N changes in one hour costs 2N + 2·owners write units instead of 4N. Returns,
    per update, whether it was written; an update whose condition failed is left out and
    the rest written again (a concurrent writer changed that message: the caller reads it
    and decides anew)."""
    written = [False] * len(updates)
    for part in parts(updates):
        _commit_part(updates, part, written)
    return written


def _commit_part(updates: Sequence[CountedUpdate], live: list[int], written: list[bool]) -> None:
    for attempt in range(TRANSACTION_TRIES):
        if not live:
            return
        sums: dict[tuple[str, str, str], dict[str, float]] = defaultdict(lambda: defaultdict(int))  # counts stay ints
        moments: dict[tuple[str, str, str], datetime] = {}
        for i in live:
            for key in _counter_keys(updates[i]):
                moments.setdefault(key, updates[i].at)
                for name, value in updates[i].deltas.items():
                    sums[key][name] += value
        try:
            with dynamo.transaction() as tx:
                for i in live:
                    tx.update(updates[i].item, actions=updates[i].actions, condition=updates[i].condition)
                for key, deltas in sums.items():
                    workspace_id, owner, _ = key
                    add_to_transaction(tx, workspace_id, [owner], deltas, moments[key])
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


@dataclass(frozen=True)
class Counts:
    """What one message adds to its owners' counters (no message write with it)."""

    workspace_id: str
    owners: tuple[str, ...]
    deltas: Mapping[str, float]
    at: datetime


def summed(counts: Sequence[Counts]) -> dict[tuple[str, str, str], tuple[dict[str, float], datetime]]:
    """The increments of many messages summed per (workspace, owner, hour)."""
    sums: dict[tuple[str, str, str], tuple[dict[str, float], datetime]] = {}
    for c in counts:
        if not c.deltas:
            continue
        for owner in c.owners:
            key = (c.workspace_id, owner, hour_of(c.at))
            deltas, _ = sums.setdefault(key, (defaultdict(int), c.at))
            for name, value in c.deltas.items():
                deltas[name] += value
    return sums


class Refused(Exception):
    """The head update's condition failed: nothing was written."""


def commit_with(item: Any, actions: list[Any], condition: Any, counts: Sequence[Counts]) -> None:
    """One transaction: a conditional update of ``item`` and the summed increments of
    ``counts`` (one shard update per owner and hour). ``Refused`` when the condition fails;
    conflicts with concurrent transactions are retried."""
    sums = summed(counts)
    if len(sums) + 1 > TRANSACTION_ITEMS:
        raise ValueError("too many counter owners for one transaction")
    for attempt in range(TRANSACTION_TRIES):
        try:
            with dynamo.transaction() as tx:
                tx.update(item, actions=actions, condition=condition)
                for (workspace_id, owner, _), (deltas, at) in sums.items():
                    add_to_transaction(tx, workspace_id, [owner], deltas, at)
            return
        except TransactWriteError as error:
            reasons = list(error.cancellation_reasons or [])
            if reasons and reasons[0] is not None and reasons[0].code == "ConditionalCheckFailed":
                raise Refused() from None
            if dynamo.is_retryable(error):
                dynamo.backoff(attempt)
                continue
            raise
    raise RuntimeError("counters: the transaction kept conflicting")
