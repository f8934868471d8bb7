"""Count every AWS request the app makes, with botocore event hooks, and price it.

Every botocore client built in this process (boto3's and PynamoDB's own) gets two hooks
when it is created: ``before-parameter-build`` keeps the call's parameters in the
request context, ``after-call`` records the call with its parsed answer. A call is
attributed to the *side* that made it, from the thread: inside a queue handler
(``handler``, the meter wraps ``app.handler_map``), the pump standing in for
Lambda's SQS poller (``event_source``), the scheduler (``schedule``), the API server's
request threads (``api``), the app's own worker pools (``app``), the benchmark's own driver and setup
(``driver``, never billed), or the ``provider``: calls the sandbox provider makes for itself
(its outbox and due items, by their keys, from any thread, and the schedule that posts its
receipts) stand in for a real provider's work, paid in its fee, so they are reported apart
(``provider_side``) and excluded from our cost. Units: DynamoDB read and write units are computed from item sizes (moto does
not report ConsumedCapacity), SQS billed requests from 64 KB payload chunks. See
bench/README.md for the rules.
"""
from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import botocore.session

from bench.item_size import KB, READ_BLOCK, item_bytes

ROOT = Path(__file__).resolve().parents[1]
PRICES = Path(__file__).with_name("prices.json")
BILLED_SIDES = ("api", "handler", "event_source", "schedule", "app")
PROVIDER_SIDE = "provider"
# Key prefixes and handlers of the sandbox provider's own work (a real provider's, paid in its fee).
PROVIDER_KEY_MARKS = ("#sandbox#", "sandbox_due#")
PROVIDER_HANDLERS = frozenset({"post_sandbox_receipts"})


def _keys_of(op: str, params: dict[str, Any]) -> list[str]:
    """The partition key values a DynamoDB call names (for attributing it to a side)."""
    found: list[str] = []

    def add(item: Any) -> None:
        if isinstance(item, dict) and isinstance(item.get("pk"), dict) and "S" in item["pk"]:
            found.append(item["pk"]["S"])

    add(params.get("Key"))
    add(params.get("Item"))
    for value in (params.get("ExpressionAttributeValues") or {}).values() if op == "Query" else ():
        if isinstance(value, dict) and "S" in value:
            found.append(value["S"])
    for requests in (params.get("RequestItems") or {}).values():
        if isinstance(requests, dict):  # BatchGetItem
            for key in requests.get("Keys", []):
                add(key)
        else:  # BatchWriteItem
            for request in requests:
                add(request.get("PutRequest", {}).get("Item"))
                add(request.get("DeleteRequest", {}).get("Key"))
    for entry in params.get("TransactItems") or []:
        body = next(iter(entry.values()))
        add(body.get("Key"))
        add(body.get("Item"))
    return found


def is_provider_call(service: str, op: str, params: dict[str, Any]) -> bool:
    """A DynamoDB call on the sandbox's own items only (its outbox, its due items)."""
    if service != "dynamodb":
        return False
    keys = _keys_of(op, params)
    return bool(keys) and all(any(mark in k for mark in PROVIDER_KEY_MARKS) for k in keys)


def load_prices() -> dict[str, Any]:
    return json.loads(PRICES.read_text())


def lambda_memory() -> dict[str, int]:
    """Function name -> memory MB, from .chalice/config.json (api_handler for the API)."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {name: int(spec.get("lambda_memory_size", 128)) for name, spec in config.get("lambda_functions", {}).items()}


def index_keys(prefix: str) -> dict[str, list[tuple[list[str], bool]]]:
    """Table name -> [(index key attributes, projects ALL)], from infra/resources.yaml."""
    from devstack.resources import load_template

    out: dict[str, list[tuple[list[str], bool]]] = {}
    for res in load_template()["Resources"].values():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        props = res["Properties"]
        indexes = props.get("LocalSecondaryIndexes", []) + props.get("GlobalSecondaryIndexes", [])
        out[prefix + res["Metadata"]["LocalName"]] = [
            ([k["AttributeName"] for k in i["KeySchema"]], i["Projection"]["ProjectionType"] == "ALL") for i in indexes]
    return out


@dataclass
class Units:
    """Request units of one call, computed from its parameters and answer.

    Writes: ceil(item KB) WRU per item put (x2 in a transaction), plus each secondary
    index the item lands in (its size when the index projects ALL, 1 when keys only);
    UpdateItem and DeleteItem cost ceil(KB) of the item they return with ALL_NEW or
    ALL_OLD, else 1 (the minimum; our updates touch small items). Reads: ceil(bytes /
    4 KB) per item (GetItem, BatchGetItem), per response (Query), x0.5 eventually
    consistent; a Scan costs the bytes it reads before any filter (ScannedCount x mean
    size of the items returned, or 1 KB when none are). SQS: one request per 64 KB chunk.
    """

    indexes: dict[str, list[tuple[list[str], bool]]]
    sqs_chunk: int = 65536

    def _index_updates(self, table: str, params: dict[str, Any]) -> float:
        """Index entries an update writes or removes: 1 WRU per keys-only index whose key
        attribute the update expression names (the item's size for an ALL projection is not
        known here: 1 as well)."""
        names = set((params.get("ExpressionAttributeNames") or {}).values())
        expression = params.get("UpdateExpression") or ""
        return sum(1 for keys, _ in self.indexes.get(table, [])
                   if all(k in names or re.search(rf"\b{re.escape(k)}\b", expression) for k in keys))

    def _write(self, table: str, item: dict[str, Any], tx: bool) -> float:
        kb = max(1, math.ceil(item_bytes(item) / KB))
        extra = sum(kb if whole else 1 for keys, whole in self.indexes.get(table, []) if all(k in item for k in keys))
        return kb * (2 if tx else 1) + extra

    @staticmethod
    def _read(size: int, consistent: bool) -> float:
        return max(1, math.ceil(size / READ_BLOCK)) * (1.0 if consistent else 0.5)

    def of(self, service: str, op: str, params: dict[str, Any], answer: dict[str, Any]) -> dict[str, float]:
        u: dict[str, float] = defaultdict(float)
        if service == "dynamodb":
            if op == "PutItem":
                u["wru"] += self._write(params["TableName"], params["Item"], False)
            elif op in ("UpdateItem", "DeleteItem"):
                returned = answer.get("Attributes")
                u["wru"] += max(1, math.ceil(item_bytes(returned) / KB)) if returned else 1
                if op == "UpdateItem":
                    u["wru"] += self._index_updates(params["TableName"], params)
            elif op == "BatchWriteItem":
                for table, requests in params["RequestItems"].items():
                    for r in requests:
                        item = r.get("PutRequest", {}).get("Item")
                        u["wru"] += self._write(table, item, False) if item else 1
            elif op == "TransactWriteItems":
                for entry in params["TransactItems"]:
                    kind, body = next(iter(entry.items()))
                    u["wru"] += self._write(body["TableName"], body["Item"], True) if kind == "Put" else 2
                    if kind == "Update":
                        u["wru"] += self._index_updates(body["TableName"], body)
            elif op == "GetItem":
                u["rru"] += self._read(item_bytes(answer.get("Item") or {}), bool(params.get("ConsistentRead")))
            elif op == "BatchGetItem":
                unprocessed = answer.get("UnprocessedKeys") or {}
                for table, request in params["RequestItems"].items():
                    consistent = bool(request.get("ConsistentRead"))
                    found = answer.get("Responses", {}).get(table, [])
                    asked = len(request["Keys"]) - len(unprocessed.get(table, {}).get("Keys", []))
                    u["rru"] += sum(self._read(item_bytes(i), consistent) for i in found)
                    u["rru"] += self._read(0, consistent) * max(0, asked - len(found))
            elif op == "TransactGetItems":
                u["rru"] += 2 * sum(self._read(item_bytes(r.get("Item") or {}), True) for r in answer.get("Responses", []))
            elif op == "Query":
                u["rru"] += self._read(sum(item_bytes(i) for i in answer.get("Items", [])), bool(params.get("ConsistentRead")))
            elif op == "Scan":
                items = answer.get("Items", [])
                mean = sum(item_bytes(i) for i in items) / len(items) if items else KB
                u["rru"] += self._read(int(int(answer.get("ScannedCount", 0)) * mean), bool(params.get("ConsistentRead")))
        elif service == "sqs":
            if op in ("SendMessage", "SendMessageBatch"):
                bodies = [params["MessageBody"]] if op == "SendMessage" else [e["MessageBody"] for e in params["Entries"]]
                u["sqs"] += max(1, math.ceil(sum(len(b.encode()) for b in bodies) / self.sqs_chunk))
            elif op == "ReceiveMessage":
                size = sum(len(m["Body"].encode()) for m in answer.get("Messages", []))
                u["sqs"] += max(1, math.ceil(size / self.sqs_chunk))
            else:
                u["sqs"] += 1
        return u


@dataclass
class Call:
    side: str
    service: str
    op: str
    units: dict[str, float]


@dataclass
class Meter:
    units: Units
    active: bool = False
    calls: list[Call] = field(default_factory=list)
    invocations: list[tuple[str, float]] = field(default_factory=list)   # (function, seconds)
    api_requests: int = 0
    provider_invocations: int = 0
    _local: threading.local = field(default_factory=threading.local)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ------------------------------------------------------------------ attribution
    def side(self) -> str:
        role = getattr(self._local, "role", None)
        if role:
            return role
        name = threading.current_thread().name
        if name.startswith("pump-"):
            return "event_source"
        if name == "scheduler":
            return "schedule"
        if threading.current_thread() is threading.main_thread() or name.startswith("bench-"):
            return "driver"
        if "process_request_thread" in name:
            return "api"
        return "app"  # the app's own worker pools (their parent side is not tracked)

    # ------------------------------------------------------------------ hooks
    def install(self) -> None:
        """Hook every botocore client built from now on (call before the app builds any)."""
        original = botocore.session.Session.create_client
        meter = self

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            client = original(session, *args, **kwargs)
            client.meta.events.register("before-parameter-build.*.*", meter._keep_params)
            client.meta.events.register("after-call.*.*", meter._record)
            return client

        setattr(botocore.session.Session, "create_client", create_client)

    @staticmethod
    def _keep_params(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        context["bench_params"] = dict(params)

    def _record(self, http_response: Any, parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not self.active:
            return
        service = model.service_model.service_name
        op = model.name
        if op in ("GetQueueUrl", "GetQueueAttributes"):
            return  # the cloud passes queue URLs in the environment; attributes are the pump's bookkeeping
        side = self.side()
        params = context.get("bench_params", {})
        if side != "driver" and is_provider_call(service, op, params):
            side = PROVIDER_SIDE
        if side == "event_source" and op == "ReceiveMessage" and not parsed.get("Messages"):
            return  # Lambda's idle long polls are billed, but not per unit of work
        units = self.units.of(service, op, params, parsed or {})
        with self._lock:
            self.calls.append(Call(side, service, op, units))

    def wrap_handlers(self, app: Any) -> None:
        """Mark calls made inside each queue and schedule handler, and time invocations."""
        from chalice.app import ScheduledEventConfig, SQSEventConfig

        for source in app.event_sources:
            if not isinstance(source, (SQSEventConfig, ScheduledEventConfig)):
                continue
            inner = app.handler_map[source.name]

            def invoke(event: Any, context: Any, inner: Callable[..., Any] = inner, name: str = source.name) -> Any:
                self._local.role = PROVIDER_SIDE if name in PROVIDER_HANDLERS else "handler"
                started = time.perf_counter()
                try:
                    return inner(event, context)
                finally:
                    self._local.role = None
                    if self.active:
                        with self._lock:
                            if name in PROVIDER_HANDLERS:
                                self.provider_invocations += 1
                            else:
                                self.invocations.append((name, time.perf_counter() - started))

            app.handler_map[source.name] = invoke

    # ------------------------------------------------------------------ reading
    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
            self.invocations.clear()
            self.api_requests = 0
            self.provider_invocations = 0

    def summary(self, units_of_work: int, seconds: float, api_requests: int = 0) -> dict[str, Any]:
        """Per-unit requests, units and cost; the stable JSON keys of `make bench`."""
        n = max(1, units_of_work)
        billed = [c for c in self.calls if c.side in BILLED_SIDES]
        by_op = Counter(f"{c.service}.{c.op}" for c in billed)
        wru = sum(c.units.get("wru", 0) for c in billed)
        rru = sum(c.units.get("rru", 0) for c in billed)
        sqs = sum(c.units.get("sqs", 0) for c in billed)
        memory = lambda_memory()
        gb_s = sum(math.ceil(s * 1000) / 1000 * memory.get(fn, 512) / 1024 for fn, s in self.invocations)
        invocations = len(self.invocations) + api_requests
        prices = load_prices()
        ddb, q, lam, gw = (prices["dynamodb_on_demand"], prices["sqs_standard"], prices["lambda"],
                           prices["api_gateway_rest"])
        cost = {
            "dynamodb_write": wru * ddb["write_request_units_per_million"] / 1e6,
            "dynamodb_read": rru * ddb["read_request_units_per_million"] / 1e6,
            "sqs": sqs * q["requests_per_million"] / 1e6,
            "lambda_requests": invocations * lam["requests_per_million"] / 1e6,
            "api_gateway": api_requests * gw["requests_per_million"] / 1e6,
        }
        duration_cost = gb_s * lam["gb_second"]
        total = sum(cost.values())
        theirs = [c for c in self.calls if c.side == PROVIDER_SIDE]
        provider_side = {
            "requests_per_unit": round(len(theirs) / n, 5),
            "requests_per_unit_by_operation": {k: round(v / n, 5) for k, v in sorted(
                Counter(f"{c.service}.{c.op}" for c in theirs).items())},
            "wru_per_unit": round(sum(c.units.get("wru", 0) for c in theirs) / n, 5),
            "rru_per_unit": round(sum(c.units.get("rru", 0) for c in theirs) / n, 5),
            "lambda_invocations": self.provider_invocations,
            "note": "the sandbox provider's own work (a real provider's, in its fee): not in cost_per_million_usd",
        }
        return {
            "units": units_of_work,
            "seconds": round(seconds, 2),
            "per_second": round(units_of_work / seconds, 1) if seconds else None,
            "requests_per_unit": round(len(billed) / n, 5),
            "requests_per_unit_by_operation": {k: round(v / n, 5) for k, v in sorted(by_op.items())},
            "dynamodb_requests_per_unit": round(sum(1 for c in billed if c.service == "dynamodb") / n, 5),
            "sqs_requests_per_unit": round(sqs / n, 5),
            "wru_per_unit": round(wru / n, 5),
            "rru_per_unit": round(rru / n, 5),
            "units_source": "computed from item sizes (moto reports no ConsumedCapacity)",
            "lambda_invocations_per_unit": round(invocations / n, 5),
            "lambda_gb_seconds_per_unit": round(gb_s / n, 7),
            "cost_per_million_usd": round(total / n * 1e6, 4),
            "cost_per_million_usd_by_part": {k: round(v / n * 1e6, 4) for k, v in cost.items()},
            "lambda_duration_cost_per_million_usd": round(duration_cost / n * 1e6, 4),
            "provider_side": provider_side,
            "note": ("cost_per_million_usd counts requests and units (stable); Lambda duration is measured on "
                     "moto and reported apart (lambda_duration_cost_per_million_usd, indicative only)"),
        }
