"""Event-triggered entries gathered per journey, short time window and shard into one root cohort.

Without this, every events message (often one request, one user) made its own root cohort,
and each cohort of one then cost a cohort's writes at every node. Now the entries of one
journey whose messages the API received in the same ``WINDOW_SECONDS`` window go to one
bucket, a partition ``<ws>#jny#<journey>#gather#<window>#<shard>`` (shard: a hash of the
event id modulo ``SHARDS``), as one small item per entry (sk ``e#<event_id>``: the user,
the event's time and properties). The key is the event id and the window comes from the
message's ``received_at``, so a redelivered message writes the same items: nobody twice.
Entries are items of their own, not a list grown in one item: an append to a growing item
costs the whole item's size in write units, and no bucket meets the 400 KB item limit.

The writer then adds one to the bucket's ``head`` (UpdateItem returning the old head): the
first writer queues the bucket's close on the steps queue, delayed to the window's end (a
``gather`` message; ``scheduled`` is set once it is sent, so a writer that crashed before
sending leaves it to the redelivery). The close marks the head ``closed`` (one closer at a
time, a lease), reads the bucket (Query, strongly consistent), stores the event ids it takes
(``taken``, compressed), enters one user per earliest event as run ``evw-<window>-<shard>``
(root cohorts of 1,000, with the entry rules and caps as every entry) and marks the head
``done``. A writer that finds the head already closed (a late or redelivered message) waits
for ``done`` (its message is retried) and enters at once, under a run named by its event
ids, only the entries the close did not take. Every head update follows the writer's entry
puts, and the close reads the entries after marking the head closed, so each entry is
either taken by the close or seen as late by its writer: never both, never neither.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from chalicelib import aws, clock, dynamo, logs
from chalicelib.config import settings
from chalicelib.events.messages import QueuedEvent
from chalicelib.models.journeys import journey_pk

WINDOW_SECONDS = 5    # 0: every message enters at once (no gathering)
GRACE_SECONDS = 1     # the close waits this much past the window for writers still in flight
SHARDS = 1            # more spreads a hot journey's entries over more partitions (more, smaller cohorts)
LEASE_SECONDS = 60    # a close that has not finished by then may be taken over
TAKEN_CHUNK = 8_000   # event ids per ``taken`` item (compressed, far below 400 KB)
RETENTION_SECONDS = 2 * 86400


class GatherMessage(BaseModel):
    """Close one bucket: its entries become root cohorts."""
    model_config = ConfigDict(extra="forbid")
    type: Literal["gather"] = "gather"
    workspace_id: str = Field(min_length=1)
    journey_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    window: int = Field(ge=0)
    shard: int = Field(ge=0)


class StillClosing(RuntimeError):
    """The bucket is being closed: the message is retried once it is done."""


def _table() -> str:
    return settings.table("journeys")


def bucket_pk(workspace_id: str, journey_id: str, window: int, shard: int) -> str:
    return f"{journey_pk(workspace_id, journey_id)}#gather#{window}#{shard}"


def window_of(received_at: str) -> int:
    return int(clock.parse_iso(received_at).timestamp()) // WINDOW_SECONDS


def shard_of(event_id: str) -> int:
    return int(hashlib.sha256(event_id.encode()).hexdigest()[:8], 16) % SHARDS if SHARDS > 1 else 0


def run_id(window: int, shard: int) -> str:
    return f"evw-{window}-{shard}"


def late_run_id(event_ids: list[str]) -> str:
    return "ev-" + hashlib.sha256("\n".join(sorted(event_ids)).encode()).hexdigest()[:16]


# --- writing entries ------------------------------------------------------------------------

def gather(workspace_id: str, journey_id: str, version: int, chosen: Mapping[str, QueuedEvent], received_at: str,
           now: datetime) -> None:
    """Put the users' entries in their buckets (by the message's receipt time); queue each
    new bucket's close; enter at once what a closed bucket did not take."""
    window = window_of(received_at)
    by_shard: dict[int, dict[str, QueuedEvent]] = {}
    for user, event in chosen.items():
        by_shard.setdefault(shard_of(event.event_id), {})[user] = event
    for shard, events in sorted(by_shard.items()):
        pk = bucket_pk(workspace_id, journey_id, window, shard)
        expires = str(int(now.timestamp()) + RETENTION_SECONDS)
        dynamo.batch_put(_table(), [{
            "pk": {"S": pk}, "sk": {"S": f"e#{e.event_id}"}, "kind": {"S": "journey_gathered"},
            "user": {"S": user}, "ts": {"S": e.ts}, "props": {"S": json.dumps(e.properties, separators=(",", ":"))},
            "expires_at": {"N": expires}} for user, e in sorted(events.items())])
        window_end = (window + 1) * WINDOW_SECONDS
        old = aws.dynamodb().update_item(
            TableName=_table(), Key=dynamo.key(pk, "head"), ReturnValues="ALL_OLD",
            UpdateExpression="SET kind = :k, window_end = :end, expires_at = :x ADD writes :one",
            ExpressionAttributeValues={":k": {"S": "journey_gather"}, ":end": {"N": str(window_end)},
                                       ":x": {"N": expires}, ":one": {"N": "1"}}).get("Attributes") or {}
        if "closer" in old:
            _late(workspace_id, journey_id, version, pk, old, events, now)
        elif "scheduled" not in old:
            schedule_close(GatherMessage(workspace_id=workspace_id, journey_id=journey_id, version=version,
                                         window=window, shard=shard), close_delay(window_end, now))
            aws.dynamodb().update_item(TableName=_table(), Key=dynamo.key(pk, "head"),
                                       UpdateExpression="SET scheduled = :t",
                                       ExpressionAttributeValues={":t": {"BOOL": True}})


def close_delay(window_end: int, now: datetime) -> int:
    """Seconds until a bucket closes: the window's end and a grace; a whole window more when
    the events handler runs behind (its window already over), so the messages received in
    that window, processed as late, still gather."""
    left = math.ceil(window_end + GRACE_SECONDS - now.timestamp())
    return left if left > 0 else WINDOW_SECONDS + GRACE_SECONDS


def schedule_close(message: GatherMessage, delay: int) -> None:
    """Queue a bucket's close on the steps queue after ``delay`` seconds."""
    from chalicelib.journeys import runtime

    runtime.enqueue([message], [delay])


def _late(workspace_id: str, journey_id: str, version: int, pk: str, head: dict[str, Any],
          events: Mapping[str, QueuedEvent], now: datetime) -> None:
    if "done" not in head:
        raise StillClosing("the journey's entry window is being closed; the events are entered once it is")
    taken = _read_taken(pk) or set()
    rest = {u: e for u, e in events.items() if e.event_id not in taken}
    if rest:
        _enter(workspace_id, journey_id, version, rest, late_run_id([e.event_id for e in rest.values()]), now)


def _enter(workspace_id: str, journey_id: str, version: int, events: Mapping[str, QueuedEvent], run: str,
           now: datetime) -> int:
    from chalicelib.journeys import runtime

    try:
        return runtime.enter(workspace_id, journey_id, sorted(events), run, now, version=version,
                             props={u: e.properties for u, e in events.items()},
                             entries={u: e.event_id for u, e in events.items()})
    except LookupError:
        logs.logger.info("events for a journey not running", extra={"journey_id": journey_id})
        return 0


# --- closing a bucket -----------------------------------------------------------------------

def close(message: GatherMessage, now: datetime) -> int:
    """Enter a bucket's users as one run (root cohorts of 1,000); returns the users entered."""
    pk = bucket_pk(message.workspace_id, message.journey_id, message.window, message.shard)
    epoch = int(now.timestamp())
    try:
        head = aws.dynamodb().update_item(
            TableName=_table(), Key=dynamo.key(pk, "head"), ReturnValues="ALL_NEW",
            UpdateExpression="SET closer = :c, closed_at = :now",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(closer) OR closed_at < :stale)"
                                " AND attribute_not_exists(done)",
            ExpressionAttributeValues={":c": {"S": clock.iso(now)}, ":now": {"N": str(epoch)},
                                       ":stale": {"N": str(epoch - LEASE_SECONDS)}})["Attributes"]
    except ClientError as error:
        if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
            raise
        found = aws.dynamodb().get_item(TableName=_table(), Key=dynamo.key(pk, "head"), ConsistentRead=True)
        if "Item" in found and "done" not in found["Item"]:
            raise StillClosing("another close of this entry window is under way") from None
        return 0  # done before (a redelivered close), or no such bucket
    del head
    entries = _read_entries(pk)
    taken = _read_taken(pk)
    if taken is None:
        taken = {e["event_id"] for e in entries}
        _write_taken(pk, sorted(taken), epoch)
    first = _one_per_user(message, [e for e in entries if e["event_id"] in taken])
    entered = _enter(message.workspace_id, message.journey_id, message.version, first,
                     run_id(message.window, message.shard), now) if first else 0
    aws.dynamodb().update_item(TableName=_table(), Key=dynamo.key(pk, "head"), UpdateExpression="SET done = :t",
                               ExpressionAttributeValues={":t": {"BOOL": True}})
    return entered


def _one_per_user(message: GatherMessage, entries: list[dict[str, str]]) -> dict[str, QueuedEvent]:
    """Each user's earliest event; for a user with several, the earliest one not entered
    before (a client's retry of an event gathered in an earlier window is not a new entry):
    only those users' entry markers are read."""
    from chalicelib.journeys import runtime_repo

    by_user: dict[str, list[dict[str, str]]] = {}
    for raw in sorted(entries, key=lambda e: (e["ts"], e["event_id"])):
        by_user.setdefault(raw["user"], []).append(raw)
    several = [u for u, found in by_user.items() if len(found) > 1]
    markers = runtime_repo.read_markers(message.workspace_id, message.journey_id, several) if several else {}
    out: dict[str, QueuedEvent] = {}
    for user, found in by_user.items():
        last = getattr(markers.get(user), "last_entry", "")
        raw = next((e for e in found if e["event_id"] != last), found[0])
        out[user] = QueuedEvent(user_id=user, event_id=raw["event_id"], name="", ts=raw["ts"],
                                properties=json.loads(raw["props"]))
    return out


def _read_entries(pk: str) -> list[dict[str, str]]:
    params: dict[str, Any] = {"TableName": _table(), "ConsistentRead": True,
                              "KeyConditionExpression": "pk = :pk AND begins_with(sk, :e)",
                              "ExpressionAttributeValues": {":pk": {"S": pk}, ":e": {"S": "e#"}}}
    out: list[dict[str, str]] = []
    while True:
        answer = aws.dynamodb().query(**params)
        out += [{"event_id": raw["sk"]["S"][2:], "user": raw["user"]["S"], "ts": raw["ts"]["S"],
                 "props": raw["props"]["S"]} for raw in answer.get("Items", [])]
        if "LastEvaluatedKey" not in answer:
            return out
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _read_taken(pk: str) -> set[str] | None:
    """The event ids the close took (None: the close has not stored them)."""
    first = aws.dynamodb().get_item(TableName=_table(), Key=dynamo.key(pk, "taken#0"), ConsistentRead=True).get("Item")
    if first is None:
        return None
    chunks = int(first["chunks"]["N"])
    raws = [first] + (dynamo.batch_get({_table(): [dynamo.key(pk, f"taken#{i}") for i in range(1, chunks)]})[_table()]
                      if chunks > 1 else [])
    ids: set[str] = set()
    for raw in raws:
        text = zlib.decompress(raw["ids"]["B"]).decode()
        ids.update(text.split("\n") if text else [])
    return ids


def _write_taken(pk: str, ids: list[str], epoch: int) -> None:
    """Store what the close takes, the first chunk last (its presence means all are there)."""
    parts = [ids[i:i + TAKEN_CHUNK] for i in range(0, len(ids), TAKEN_CHUNK)] or [[]]
    items = [{"pk": {"S": pk}, "sk": {"S": f"taken#{i}"}, "kind": {"S": "journey_gather_taken"},
              "ids": {"B": zlib.compress("\n".join(part).encode(), 6)},
              "expires_at": {"N": str(epoch + RETENTION_SECONDS)}} for i, part in enumerate(parts)]
    items[0]["chunks"] = {"N": str(len(parts))}
    if len(items) > 1:
        dynamo.batch_put(_table(), items[1:])
    aws.dynamodb().put_item(TableName=_table(), Item=items[0])
