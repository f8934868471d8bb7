"""The runtime's storage in the journeys table: cohorts, their step markers, node stats,
runs, and the cohorts a pause holds. Low-level client calls (attribute names of counters
are branch labels, chosen at run time).

* cohort ``pk = <ws>#jny#<id>#c#<cohort>``, ``sk = cohort``: the users (compressed), the
  node, the version, the lineage (parent, branch), ``due_at`` when parked. One partition
  per cohort, so a million users entering spread over a thousand partitions.
* its step marker, same pk, ``sk = step``: written once, in one transaction with the
  node's stats increments, when the step is complete; it lists the cohorts the step made
  (the lineage a user's history follows). Its existence is what makes a redelivered step
  a no-op and the counts exact.
* node stats ``pk = <ws>#jny#<id>#stats``, ``sk = <node>#<shard>``: numbers, added to.
  The shard is fixed per cohort (hash), ``STAT_SHARDS`` of them per node.
* under the journey's own pk: ``run#<run>`` (an entry run: snapshot, time) and
  ``parked#<cohort>`` (a cohort that reached the runner while the journey was paused).
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, dynamo
from chalicelib.config import settings
from chalicelib.journeys import cohorts
from chalicelib.journeys.cohorts import Cohort
from chalicelib.models.journeys import journey_pk

COHORT_SK = "cohort"
STEP_SK = "step"
STAT_SHARDS = 4
RETENTION_SECONDS = 400 * 86400  # cohorts and markers expire (TTL) after the longest journey's life


def _table() -> str:
    return settings.table("journeys")


def cohort_pk(workspace_id: str, journey_id: str, cohort_id: str) -> str:
    return f"{journey_pk(workspace_id, journey_id)}#c#{cohort_id}"


def stats_pk(workspace_id: str, journey_id: str) -> str:
    return f"{journey_pk(workspace_id, journey_id)}#stats"


def _cohort_item(cohort: Cohort, expires_at: int) -> dict[str, Any]:
    item: dict[str, Any] = {
        "pk": {"S": cohort_pk(cohort.workspace_id, cohort.journey_id, cohort.cohort_id)}, "sk": {"S": COHORT_SK},
        "kind": {"S": "journey_cohort"}, "journey": {"S": cohort.journey_id}, "version": {"N": str(cohort.version)},
        "node": {"S": cohort.node_id}, "users": {"B": cohorts.encode_users(cohort)},
        "size": {"N": str(len(cohort.users))}, "entry": {"S": cohort.entry_id},
        "entered_at": {"S": cohort.entered_at}, "expires_at": {"N": str(expires_at)},
    }
    for name, value in (("parent", cohort.parent), ("branch", cohort.branch), ("due_at", cohort.due_at),
                        ("touch", cohort.touch), ("run", cohort.run_id)):
        if value is not None:
            item[name] = {"S": value}
    return item


def _cohort(workspace_id: str, raw: dict[str, Any]) -> Cohort:
    users, per_user = cohorts.decode_users(raw["users"]["B"])
    cohort_id = raw["pk"]["S"].rsplit("#c#", 1)[1]

    def text(name: str) -> str | None:
        return raw[name]["S"] if name in raw else None

    return Cohort(workspace_id=workspace_id, journey_id=raw["journey"]["S"], version=int(raw["version"]["N"]),
                  cohort_id=cohort_id, node_id=raw["node"]["S"], users=users, entry_id=raw["entry"]["S"],
                  entered_at=raw["entered_at"]["S"], parent=text("parent"), branch=text("branch"),
                  due_at=text("due_at"), touch=text("touch"), run_id=text("run"), per_user=per_user)


def put_cohort(cohort: Cohort, now_epoch: int) -> bool:
    """Write a cohort unless it exists (its id is deterministic); False when it did."""
    try:
        aws.dynamodb().put_item(TableName=_table(), Item=_cohort_item(cohort, now_epoch + RETENTION_SECONDS),
                                ConditionExpression="attribute_not_exists(pk)")
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise


@dataclass(frozen=True)
class Marker:
    children: tuple[str, ...]
    at: str
    outcome: str


def read_step(workspace_id: str, journey_id: str, cohort_id: str) -> tuple[Cohort | None, Marker | None]:
    """The cohort and its step marker (None, None: no such cohort): one BatchGetItem."""
    pk = cohort_pk(workspace_id, journey_id, cohort_id)
    found = dynamo.batch_get({_table(): [dynamo.key(pk, COHORT_SK), dynamo.key(pk, STEP_SK)]})[_table()]
    cohort = marker = None
    for raw in found:
        if raw["sk"]["S"] == COHORT_SK:
            cohort = _cohort(workspace_id, raw)
        else:
            marker = Marker(tuple(raw.get("children", {}).get("SS", ())), raw["at"]["S"], raw["outcome"]["S"])
    return cohort, marker


def read_cohorts(workspace_id: str, journey_id: str, cohort_ids: Iterable[str]) -> dict[str, tuple[Cohort, Marker | None]]:
    """Cohorts and their markers by id (BatchGetItem), for following a lineage."""
    keys = []
    for cid in cohort_ids:
        pk = cohort_pk(workspace_id, journey_id, cid)
        keys += [dynamo.key(pk, COHORT_SK), dynamo.key(pk, STEP_SK)]
    found = dynamo.batch_get({_table(): keys})[_table()] if keys else []
    by_id: dict[str, dict[str, Any]] = defaultdict(dict)
    for raw in found:
        by_id[raw["pk"]["S"].rsplit("#c#", 1)[1]][raw["sk"]["S"]] = raw
    out: dict[str, tuple[Cohort, Marker | None]] = {}
    for cid, parts in by_id.items():
        if COHORT_SK in parts:
            step = parts.get(STEP_SK)
            marker = Marker(tuple(step.get("children", {}).get("SS", ())), step["at"]["S"],
                            step["outcome"]["S"]) if step else None
            out[cid] = (_cohort(workspace_id, parts[COHORT_SK]), marker)
    return out


def shard_of(cohort_id: str) -> int:
    return int(hashlib.sha256(cohort_id.encode()).hexdigest()[:8], 16) % STAT_SHARDS


def counter_update(workspace_id: str, journey_id: str, node_id: str, shard: int,
                    deltas: Mapping[str, int]) -> dict[str, Any]:
    names = {f"#n{i}": name for i, name in enumerate(deltas)}
    values = {f":v{i}": {"N": str(value)} for i, value in enumerate(deltas.values())}
    return {"Update": {
        "TableName": _table(),
        "Key": dynamo.key(stats_pk(workspace_id, journey_id), f"{node_id}#{shard:02d}"),
        "UpdateExpression": "SET #kind = :kind, #node = :node ADD " + ", ".join(
            f"#n{i} :v{i}" for i in range(len(deltas))),
        "ExpressionAttributeNames": {**names, "#kind": "kind", "#node": "node"},
        "ExpressionAttributeValues": {**values, ":kind": {"S": "journey_stats"}, ":node": {"S": node_id}},
    }}


def finish_step(cohort: Cohort, children: list[str], outcome: str, at: str, now_epoch: int,
                counts: Mapping[str, Mapping[str, int]], marker_sk: str = STEP_SK) -> bool:
    """Mark the cohort's step done and add its counts (per node: {counter: delta}), in one
    transaction conditioned on the marker not existing: False when another delivery of the
    same step finished first (its counts stand, these are not added)."""
    pk = cohort_pk(cohort.workspace_id, cohort.journey_id, cohort.cohort_id)
    marker: dict[str, Any] = {"pk": {"S": pk}, "sk": {"S": marker_sk}, "kind": {"S": "journey_step"},
                              "at": {"S": at}, "outcome": {"S": outcome},
                              "expires_at": {"N": str(now_epoch + RETENTION_SECONDS)}}
    if children:
        marker["children"] = {"SS": sorted(set(children))}
    items: list[dict[str, Any]] = [{"Put": {"TableName": _table(), "Item": marker,
                                            "ConditionExpression": "attribute_not_exists(pk)"}}]
    shard = shard_of(cohort.cohort_id)
    for node_id, deltas in counts.items():
        kept = {k: v for k, v in deltas.items() if v}
        if kept:
            items.append(counter_update(cohort.workspace_id, cohort.journey_id, node_id, shard, kept))
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
        return True
    except ClientError as error:
        reasons = error.response.get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return False
        raise


def add_counts(workspace_id: str, journey_id: str, node_id: str, key: str, deltas: Mapping[str, int]) -> None:
    """Counts outside a step (entry outcomes): ``key`` picks the shard."""
    update = counter_update(workspace_id, journey_id, node_id, shard_of(key), deltas)["Update"]
    aws.dynamodb().update_item(**update)


def read_stats(workspace_id: str, journey_id: str) -> dict[str, dict[str, int]]:
    """Every node's counters, shards summed: one Query."""
    out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    params: dict[str, Any] = {"TableName": _table(), "ConsistentRead": True,
                              "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": stats_pk(workspace_id, journey_id)}}}
    while True:
        answer = aws.dynamodb().query(**params)
        for raw in answer.get("Items", []):
            node = raw["node"]["S"]
            for name, value in raw.items():
                if "N" in value:
                    out[node][name] += int(value["N"])
        if "LastEvaluatedKey" not in answer:
            break
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return {node: dict(values) for node, values in out.items()}


# --- runs and paused cohorts (under the journey's pk) ----------------------------------------

def put_run(workspace_id: str, journey_id: str, run_id: str, fields: Mapping[str, str]) -> bool:
    item = {"pk": {"S": journey_pk(workspace_id, journey_id)}, "sk": {"S": f"run#{run_id}"},
            "kind": {"S": "journey_run"}, **{k: {"S": v} for k, v in fields.items()}}
    try:
        aws.dynamodb().put_item(TableName=_table(), Item=item, ConditionExpression="attribute_not_exists(pk)")
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise


def get_run(workspace_id: str, journey_id: str, run_id: str) -> dict[str, str] | None:
    raw = aws.dynamodb().get_item(TableName=_table(), ConsistentRead=True,
                                  Key=dynamo.key(journey_pk(workspace_id, journey_id), f"run#{run_id}")).get("Item")
    return {k: v["S"] for k, v in raw.items() if "S" in v} if raw else None


def _query_prefix(pk: str, prefix: str) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"TableName": _table(), "ConsistentRead": True,
                              "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
                              "ExpressionAttributeValues": {":pk": {"S": pk}, ":p": {"S": prefix}}}
    items: list[dict[str, Any]] = []
    while True:
        answer = aws.dynamodb().query(**params)
        items += answer.get("Items", [])
        if "LastEvaluatedKey" not in answer:
            return items
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def runs(workspace_id: str, journey_id: str) -> list[dict[str, str]]:
    return [{k: v["S"] for k, v in raw.items() if "S" in v}
            for raw in _query_prefix(journey_pk(workspace_id, journey_id), "run#")]


def hold(workspace_id: str, journey_id: str, cohort_id: str) -> None:
    """Remember a cohort that arrived while the journey was paused (idempotent)."""
    aws.dynamodb().put_item(TableName=_table(), Item={
        "pk": {"S": journey_pk(workspace_id, journey_id)}, "sk": {"S": f"parked#{cohort_id}"},
        "kind": {"S": "journey_parked"}})


def held(workspace_id: str, journey_id: str) -> list[str]:
    return [raw["sk"]["S"][len("parked#"):] for raw in _query_prefix(journey_pk(workspace_id, journey_id), "parked#")]


def let_go(workspace_id: str, journey_id: str, cohort_ids: list[str]) -> None:
    pk = journey_pk(workspace_id, journey_id)
    dynamo.batch_delete(_table(), [dynamo.key(pk, f"parked#{c}") for c in cohort_ids])


# --- entries: per-user markers (only where a user can come back) and the caps' counts -------

def marker_pk(workspace_id: str, journey_id: str, user_id: str) -> str:
    return f"{journey_pk(workspace_id, journey_id)}#u#{user_id}"


def read_markers(workspace_id: str, journey_id: str, users: list[str]) -> dict[str, Any]:
    """The users' entry markers (BatchGetItem, 100 a call), by user id."""
    from chalicelib.journeys.entry_rules import Marker as EntryMarker

    keys = [dynamo.key(marker_pk(workspace_id, journey_id, u), "entry") for u in users]
    found = dynamo.batch_get({_table(): keys})[_table()] if keys else []
    prefix = marker_pk(workspace_id, journey_id, "")
    return {raw["pk"]["S"][len(prefix):]: EntryMarker(int(raw["entries"]["N"]), raw["last_at"]["S"],
                                                      raw["last_run"]["S"], raw.get("active", {}).get("BOOL", False),
                                                      raw.get("last_entry", {}).get("S", ""))
            for raw in found}


def write_markers(workspace_id: str, journey_id: str, users: list[str], previous: Mapping[str, Any], run_id: str,
                  at: str, entry_ids: Mapping[str, str] | None = None) -> None:
    """Record an entry of each user by run ``run_id`` (BatchWriteItem; writing the same run
    again gives the same items); ``entry_ids`` the users' own entry ids (an event trigger's
    event ids), which a goal names."""
    items = []
    for user in users:
        before = previous.get(user)
        entries = (before.entries if before and before.last_run == run_id else (before.entries if before else 0) + 1)
        items.append({"pk": {"S": marker_pk(workspace_id, journey_id, user)}, "sk": {"S": "entry"},
                      "kind": {"S": "journey_entry"}, "entries": {"N": str(entries)}, "last_at": {"S": at},
                      "last_run": {"S": run_id}, "active": {"BOOL": True},
                      "last_entry": {"S": (entry_ids or {}).get(user) or run_id}})
    if items:
        dynamo.batch_put(_table(), items)


def clear_active(workspace_id: str, journey_id: str, users: list[str]) -> None:
    """The users' entries are over (once_at_a_time lets them in again): one update each."""
    from concurrent.futures import ThreadPoolExecutor

    def one(user: str) -> None:
        aws.dynamodb().update_item(TableName=_table(), Key=dynamo.key(marker_pk(workspace_id, journey_id, user), "entry"),
                                   UpdateExpression="SET active = :f", ConditionExpression="attribute_exists(pk)",
                                   ExpressionAttributeValues={":f": {"BOOL": False}})

    def safe(user: str) -> None:
        try:
            one(user)
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(safe, users))


def read_entry_counts(workspace_id: str, journey_id: str, day: str) -> tuple[int, int]:
    """(entries on ``day``, entries in all) for the caps: one BatchGetItem."""
    pk = journey_pk(workspace_id, journey_id)
    found = dynamo.batch_get({_table(): [dynamo.key(pk, f"entries#{day}"), dynamo.key(pk, "entries#total")]})[_table()]
    counts = {raw["sk"]["S"]: int(raw.get("n", {}).get("N", "0")) for raw in found}
    return counts.get(f"entries#{day}", 0), counts.get("entries#total", 0)


def enter_root(cohort: Cohort, trigger_counts: Mapping[str, int], caps: tuple[str, int, int] | None,
               now_epoch: int) -> str:
    """Write a root cohort with its entry outcomes counted, and, under caps (day, day count
    read, total count read), the entries taken from them, all in one transaction: the
    cohort only if new, the caps only if unchanged since read. "written", "exists" (an
    earlier delivery wrote it: nothing is counted again) or "raced" (the caps moved: read
    and decide again)."""
    items: list[dict[str, Any]] = [{"Put": {"TableName": _table(),
                                            "Item": _cohort_item(cohort, now_epoch + RETENTION_SECONDS),
                                            "ConditionExpression": "attribute_not_exists(pk)"}}]
    pk = journey_pk(cohort.workspace_id, cohort.journey_id)
    if caps is not None:
        day, day_read, total_read = caps
        for sk, read in ((f"entries#{day}", day_read), ("entries#total", total_read)):
            items.append({"Update": {
                "TableName": _table(), "Key": dynamo.key(pk, sk), "UpdateExpression": "SET kind = :k ADD n :add",
                "ConditionExpression": "attribute_not_exists(n) OR n = :read" if read == 0 else "n = :read",
                "ExpressionAttributeValues": {":k": {"S": "journey_entries"}, ":add": {"N": str(len(cohort.users))},
                                              ":read": {"N": str(read)}}}})
    kept = {f"entry:{k}": v for k, v in trigger_counts.items() if v}
    if kept:
        items.append(counter_update(cohort.workspace_id, cohort.journey_id, cohort.node_id,
                                     shard_of(cohort.cohort_id), kept))
    try:
        aws.dynamodb().transact_write_items(TransactItems=items)
        return "written"
    except ClientError as error:
        reasons = error.response.get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return "exists"
        if any(r.get("Code") == "ConditionalCheckFailed" for r in reasons[1:]):
            return "raced"
        raise
