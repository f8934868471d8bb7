"""Events ingestion benchmark: AWS requests and cost per event, then local-stack throughput.

    .venv/bin/python bench/events_throughput.py [--events N] [--users U] [--batch B] [--json out.json]

Part 1 (the headline, stable): the app runs in this process under moto, as the tests run
it. N events are POSTed through ``chalice.test.Client`` and delivered to the queue
handler with ``drain_inline``. Every botocore API call (boto3's and PynamoDB's: the patch
is on ``BaseClient._make_api_call``, the class) is counted by phase and by side, and
request units are estimated from the call parameters. Then the same events are sent again
(same event ids) to measure what a duplicate costs, and the stored items and aggregates
are checked not to have changed.

Part 2 (secondary, noisy): the real local stack (``python -m devstack.stack``) in
a subprocess, driven over HTTP; events/s accepted and end to end. moto-bound.

See bench/README.md for what each number means.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
PRICES = Path(__file__).with_name("prices.json")
BOOTSTRAP_KEY = "bench-org-admin-key"
LAMBDA_MB = 512  # both functions, as .chalice/config.json declares

sys.path.insert(0, str(ROOT))
from devstack.fake_env import use_fake_aws  # noqa: E402 - imports no config

use_fake_aws(BOOTSTRAP_KEY)  # as tests/conftest.py: before anything builds a client or reads config

import botocore.client  # noqa: E402
import botocore.session  # noqa: E402

# --------------------------------------------------------------------------------------
# Workload


@dataclass(frozen=True)
class Workload:
    events: list[dict[str, Any]]
    batch: int

    @property
    def requests(self) -> list[list[dict[str, Any]]]:
        return [self.events[i:i + self.batch] for i in range(0, len(self.events), self.batch)]

    def expected(self) -> dict[tuple[str, str], tuple[int, Decimal]]:
        """(user, name) -> (count, sum of amount) the aggregates must hold."""
        out: dict[tuple[str, str], tuple[int, Decimal]] = {}
        for e in self.events:
            count, total = out.get((e["user_id"], e["name"]), (0, Decimal(0)))
            out[(e["user_id"], e["name"])] = (count + 1, total + Decimal(str(e["properties"].get("amount", 0))))
        return out


NAMES = [("page_view", 0.5), ("add_to_cart", 0.25), ("purchase", 0.15), ("signup", 0.10)]


def make_workload(n: int, users: int, batch: int, seed: int, tag: str) -> Workload:
    """n events over `users` users, 4 names, purchases with an amount; client event ids."""
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    names, weights = zip(*NAMES)
    events = []
    for i in range(n):
        name = rng.choices(names, weights)[0]
        properties: dict[str, Any] = {"source": rng.choice(["web", "ios", "android", "mini_program"])}
        if name == "purchase":
            properties.update(amount=round(rng.uniform(5, 500), 2), currency="CNY", sku=f"sku-{rng.randrange(200)}")
        elif name in ("page_view", "add_to_cart"):
            properties.update(path=f"/products/{rng.randrange(5000)}")
        ts = now - timedelta(seconds=rng.randrange(7 * 86400))
        events.append({
            "user_id": f"user-{rng.randrange(users):06d}", "name": name, "event_id": f"{tag}-{i:07d}",
            "timestamp": ts.isoformat(timespec="milliseconds"), "properties": properties,
        })
    return Workload(events, batch)


# --------------------------------------------------------------------------------------
# Request-unit estimates (documented in bench/README.md). Deliberately simple.

from item_size import KB, READ_BLOCK, attr_bytes, item_bytes  # noqa: E402,F401 - bench/ is on sys.path


def index_keys_by_table() -> dict[str, list[tuple[str, list[str], bool]]]:
    """table name -> [(index, key attributes, projects ALL)] from infra/resources.yaml (the one declaration)."""
    from chalicelib.config import settings
    from devstack.resources import load_template

    out: dict[str, list[tuple[str, list[str], bool]]] = {}
    for res in load_template()["Resources"].values():
        if res["Type"] != "AWS::DynamoDB::Table":
            continue
        props = res["Properties"]
        indexes = props.get("LocalSecondaryIndexes", []) + props.get("GlobalSecondaryIndexes", [])
        for index in indexes:
            assert index["Projection"]["ProjectionType"] in ("ALL", "KEYS_ONLY"), index["IndexName"]
        out[settings.resource_prefix + res["Metadata"]["LocalName"]] = [
            (i["IndexName"], [k["AttributeName"] for k in i["KeySchema"]], i["Projection"]["ProjectionType"] == "ALL")
            for i in indexes
        ]
    return out


def item_kind(table: str, item: dict[str, Any], events_table: str) -> str:
    """events | profile | aggregate | tombstone | workspace, for the per-kind breakdowns."""
    if table == events_table:
        return "claim" if item.get("sk", {}).get("S", "").startswith("id#") else "events"
    sk = item.get("sk", {}).get("S", "")
    if sk in ("profile", "erased"):
        return {"profile": "profile", "erased": "tombstone"}[sk]
    return "aggregate" if sk.startswith("stat#") else "workspace"


class Units:
    """Request units one API call consumes, estimated from its parameters and answer.

    DynamoDB writes: ceil(item KB) WRU per item, x2 inside TransactWriteItems; each
    secondary index the item appears in (it has all the index's key attributes: sparse
    indexes) adds ceil(item KB) again, not doubled. Reads: ceil(item / 4 KB) RRU per
    item, x0.5 when eventually consistent; a key that is not found still costs the
    minimum; a Query costs its returned bytes, rounded up once. SQS: each 64 KB chunk of
    the payload sent or received is one billed request; other SQS calls are one.
    """

    def __init__(self, indexes: dict[str, list[tuple[str, list[str], bool]]], sqs_chunk: int):
        self.indexes = indexes
        self.sqs_chunk = sqs_chunk

    def write(self, table: str, item: dict[str, Any], transactional: bool) -> int:
        kb = max(1, math.ceil(item_bytes(item) / KB))
        # An index entry costs about the item's size when it projects ALL, 1 WRU when keys only.
        in_indexes = sum(kb if whole else 1 for _, keys, whole in self.indexes.get(table, [])
                         if all(k in item for k in keys))
        return kb * (2 if transactional else 1) + in_indexes

    @staticmethod
    def read(size: int, consistent: bool) -> float:
        return max(1, math.ceil(size / READ_BLOCK)) * (1.0 if consistent else 0.5)

    def of(self, service: str, op: str, params: dict[str, Any], answer: dict[str, Any] | None,
           events_table: str) -> dict[str, float]:
        u: defaultdict[str, float] = defaultdict(float)
        answer = answer or {}
        if service == "dynamodb":
            if op == "TransactWriteItems":
                u["transactions"] += 1
                for entry in params["TransactItems"]:
                    kind, body = next(iter(entry.items()))
                    u["tx_items"] += 1
                    if kind == "Put":
                        wru = self.write(body["TableName"], body["Item"], transactional=True)
                        u["wru"] += wru
                        u["wru:" + item_kind(body["TableName"], body["Item"], events_table)] += wru
                        u["tx_event_puts"] += body["TableName"] == events_table
                    else:  # Update / Delete / ConditionCheck: size unknown here, count the minimum
                        u["wru"] += 2
            elif op == "BatchWriteItem":
                for table, requests in params["RequestItems"].items():
                    for r in requests:
                        item = r.get("PutRequest", {}).get("Item")
                        wru = self.write(table, item, transactional=False) if item else 1
                        u["wru"] += wru
                        if item:
                            u["wru:" + item_kind(table, item, events_table)] += wru
            elif op == "PutItem":
                wru = self.write(params["TableName"], params["Item"], transactional=False)
                u["wru"] += wru
                u["wru:" + item_kind(params["TableName"], params["Item"], events_table)] += wru
            elif op in ("UpdateItem", "DeleteItem"):
                u["wru"] += 1
            elif op == "GetItem":
                u["rru"] += self.read(item_bytes(answer.get("Item", {})), bool(params.get("ConsistentRead")))
            elif op == "BatchGetItem":
                u["batchget_calls"] += 1
                unprocessed = answer.get("UnprocessedKeys") or {}
                for table, request in params["RequestItems"].items():
                    consistent = bool(request.get("ConsistentRead"))
                    keys = len(request["Keys"]) - len(unprocessed.get(table, {}).get("Keys", []))
                    found = answer.get("Responses", {}).get(table, [])
                    u["batchget_keys"] += keys
                    for k in request["Keys"]:
                        u["keys:" + item_kind(table, k, events_table)] += 1
                    u["rru"] += sum(self.read(item_bytes(i), consistent) for i in found)
                    u["rru"] += self.read(0, consistent) * max(0, keys - len(found))
            elif op in ("Query", "Scan"):
                size = sum(item_bytes(i) for i in answer.get("Items", []))
                u["rru"] += self.read(size, bool(params.get("ConsistentRead")))
        elif service == "sqs":
            if op in ("SendMessageBatch", "SendMessage"):
                bodies = [e["MessageBody"] for e in params["Entries"]] if op == "SendMessageBatch" else [params["MessageBody"]]
                size = sum(len(b.encode()) for b in bodies)
                u["sqs_requests"] += max(1, math.ceil(size / self.sqs_chunk))
                u["sqs_bytes"] += size
            elif op == "ReceiveMessage":
                size = sum(len(m["Body"].encode()) for m in answer.get("Messages", []))
                u["sqs_requests"] += max(1, math.ceil(size / self.sqs_chunk))
                u["messages_received"] += len(answer.get("Messages", []))
            else:
                u["sqs_requests"] += 1
        return u


# --------------------------------------------------------------------------------------
# Counting every AWS call


@dataclass
class Call:
    phase: str
    side: str      # http | handler | event_source | local (see Meter.side_of)
    service: str
    op: str
    units: dict[str, float]


@dataclass
class Meter:
    """Wraps BaseClient._make_api_call (the class: PynamoDB makes its own clients)."""

    units: Units
    events_table: str
    phase: str | None = None
    pumping: bool = False          # inside drain_inline, outside the handler
    in_handler: bool = False
    calls: list[Call] = field(default_factory=list)
    invocations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))   # phase -> handler seconds
    http: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))          # phase -> request seconds
    clients: Counter[tuple[str, str]] = field(default_factory=Counter)                        # (phase, side) -> botocore clients built
    client_seconds: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    failures: list[dict[str, Any]] = field(default_factory=list)

    def side_of(self, service: str, op: str, answer: dict[str, Any] | None) -> str:
        if op == "GetQueueUrl":
            return "local"          # cloud config passes the queue URL (MA_QUEUE_EVENTS: !Ref)
        if self.in_handler:
            return "handler"
        if not self.pumping:
            return "http"
        # The pump stands in for Lambda's SQS event source mapping (billed SQS requests) ...
        if op == "ReceiveMessage":
            return "event_source" if (answer or {}).get("Messages") else "idle"
        if op in ("DeleteMessageBatch", "ChangeMessageVisibilityBatch", "DeleteMessage"):
            return "event_source"
        return "local"              # ... except its own bookkeeping (GetQueueAttributes per round)

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        original_create = botocore.session.Session.create_client
        meter = self

        def counted(client: Any, operation_name: str, api_params: dict[str, Any]) -> Any:
            answer = None
            try:
                answer = original(client, operation_name, api_params)
                return answer
            finally:
                if meter.phase is not None:
                    service = client.meta.service_model.service_name
                    meter.calls.append(Call(
                        meter.phase, meter.side_of(service, operation_name, answer), service, operation_name,
                        meter.units.of(service, operation_name, api_params, answer, meter.events_table),
                    ))

        def create_client(session: Any, *args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original_create(session, *args, **kwargs)
            finally:
                if meter.phase is not None:
                    side = "handler" if meter.in_handler else ("pump" if meter.pumping else "http")
                    meter.clients[(meter.phase, side)] += 1
                    meter.client_seconds[(meter.phase, side)] += time.perf_counter() - started

        setattr(botocore.client.BaseClient, "_make_api_call", counted)
        setattr(botocore.session.Session, "create_client", create_client)

    def wrap_handlers(self, app: Any) -> None:
        """Time each queue-handler invocation and note it as the handler side."""
        from chalice.app import SQSEventConfig

        for source in app.event_sources:
            if not isinstance(source, SQSEventConfig):
                continue
            inner = app.handler_map[source.name]

            def invoke(event: dict[str, Any], context: Any, inner: Callable[..., Any] = inner) -> Any:
                self.in_handler = True
                started = time.perf_counter()
                try:
                    result = inner(event, context)
                finally:
                    self.invocations[self.phase or "?"].append(time.perf_counter() - started)
                    self.in_handler = False
                self.failures.extend((result or {}).get("batchItemFailures", []))
                return result

            app.handler_map[source.name] = invoke

    def ops(self, phase: str) -> Counter[tuple[str, str, str]]:
        return Counter((c.side, c.service, c.op) for c in self.calls if c.phase == phase)

    def unit_totals(self, phase: str, sides: tuple[str, ...]) -> defaultdict[str, float]:
        total: defaultdict[str, float] = defaultdict(float)
        for c in self.calls:
            if c.phase == phase and c.side in sides:
                for name, value in c.units.items():
                    total[name] += value
        return total


# --------------------------------------------------------------------------------------
# Part 1: in-process under moto


def stored_state(ddb: Any, workspace_id: str, events_table: str, profiles_table: str) -> dict[str, Any]:
    """Events stored, profiles created and per-(user, name) aggregates of one workspace."""
    prefix = workspace_id + "#"
    scan = dict(FilterExpression="begins_with(pk, :p)", ExpressionAttributeValues={":p": {"S": prefix}})
    events = sum(p["Count"] for p in ddb.get_paginator("scan").paginate(TableName=events_table, Select="COUNT", **scan))
    profiles, stats = 0, {}
    for page in ddb.get_paginator("scan").paginate(TableName=profiles_table, **scan):
        for item in page["Items"]:
            user = item["pk"]["S"][len(prefix):]
            if item["sk"]["S"] == "profile":
                profiles += 1
            else:
                amount = item.get("sums", {}).get("M", {}).get("amount", {}).get("N", "0")
                stats[(user, item["name"]["S"])] = (int(item["event_count"]["N"]), Decimal(amount))
    return {"events": events, "profiles": profiles, "stats": stats}


def check_first_pass(state: dict[str, Any], workload: Workload) -> None:
    expected = workload.expected()
    assert state["events"] == len(workload.events), f"stored {state['events']} events, sent {len(workload.events)}"
    assert state["profiles"] == len({u for u, _ in expected}), "profiles created"
    assert set(state["stats"]) == set(expected), "aggregate keys"
    for key, (count, total) in expected.items():
        got_count, got_total = state["stats"][key]
        assert got_count == count and abs(got_total - total) < Decimal("0.005"), (key, state["stats"][key], (count, total))


def run_in_process(workload: Workload, dup: bool) -> dict[str, Any]:
    from chalice.test import Client
    from moto import mock_aws

    from devstack import moto_patches

    moto_patches.install()
    with mock_aws():
        from chalicelib import aws
        from chalicelib.config import settings
        from devstack import gateway, resources
        from devstack.pump import drain_inline

        aws.reset()
        resources.create_all(aws.dynamodb(), aws.sqs(), settings.resource_prefix)
        gateway.install()
        import app as app_module

        app = app_module.app
        prices = json.loads(PRICES.read_text())
        meter = Meter(Units(index_keys_by_table(), prices["sqs_standard"]["billing_chunk_bytes"]), settings.table("events"))
        meter.install()
        meter.wrap_handlers(app)
        client = Client(app, project_dir=str(ROOT))

        def call(path: str, body: Any, key: str) -> tuple[int, Any]:
            r = client.http.request("POST", path, headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
                                    body=json.dumps(body).encode())
            return r.status_code, json.loads(r.body) if r.body else None

        # Setup, not counted: a workspace, and a definition so ingestion type-checks purchases.
        status, created = call("/v1/workspaces", {"name": "Bench", "timezone": "Asia/Shanghai"}, BOOTSTRAP_KEY)
        assert status == 201, created
        workspace_id, key = created["workspace"]["id"], created["api_key"]["secret"]
        status, body = call("/v1/event-definitions", {"name": "purchase", "properties": {"amount": "number", "currency": "string"}}, key)
        assert status == 201, body
        drain_inline(app)  # warm the pump's queue lookups outside the measured phases

        def ingest(phase: str) -> None:
            meter.phase = phase
            for events in workload.requests:
                started = time.perf_counter()
                status, body = call("/v1/events", {"events": events}, key)
                meter.http[phase].append(time.perf_counter() - started)
                assert status == 202, body
            meter.phase = None

        def deliver(phase: str) -> int:
            meter.phase, meter.pumping = phase, True
            try:
                return drain_inline(app)
            finally:
                meter.phase, meter.pumping = None, False

        started = time.perf_counter()
        ingest("ingest")
        messages = deliver("deliver")
        first_seconds = time.perf_counter() - started
        assert not meter.failures, f"handler reported failures: {meter.failures[:3]}"
        tables = (settings.table("events"), settings.table("profiles"))
        first_state = stored_state(aws.dynamodb(), workspace_id, *tables)
        check_first_pass(first_state, workload)

        dup_messages = 0
        if dup:
            ingest("dup_ingest")
            dup_messages = deliver("dup_deliver")
            assert not meter.failures, f"handler reported failures on duplicates: {meter.failures[:3]}"
            again = stored_state(aws.dynamodb(), workspace_id, *tables)
            # Idempotency: a re-sent event must store and count nothing.
            assert again == first_state, "duplicate delivery changed the stored events or aggregates"

        dlq = aws.sqs().get_queue_attributes(QueueUrl=aws.queue_url(settings.queue("events") + "-dlq"),
                                             AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
        assert dlq["ApproximateNumberOfMessages"] == "0", "messages were dead-lettered"
        aws.reset()

    return report_in_process(meter, workload, prices, messages, dup_messages, first_seconds, first_state)


def phase_report(meter: Meter, n: int, ingest: str, deliver: str, prices: dict[str, Any]) -> dict[str, Any]:
    ops: Counter[tuple[str, str, str]] = meter.ops(ingest) + meter.ops(deliver)
    http_units = meter.unit_totals(ingest, ("http",))
    handler_units = meter.unit_totals(deliver, ("handler",))
    source_units = meter.unit_totals(deliver, ("event_source",))
    billed_sides = ("http", "handler", "event_source")
    requests = {side: sum(v for (s, _, _), v in ops.items() if s == side) for side in billed_sides}
    http_seconds, handler_seconds = meter.http[ingest], meter.invocations[deliver]

    def gb_s(durations: list[float]) -> float:
        return sum(math.ceil(d * 1000) / 1000 for d in durations) * LAMBDA_MB / 1024

    # Units per event, each priced by one line of prices.json.
    per_event = {
        "api_gateway_requests": len(http_seconds) / n,
        "lambda_api_invocations": len(http_seconds) / n,
        "lambda_api_gb_s": gb_s(http_seconds) / n,
        "sqs_requests_send": http_units["sqs_requests"] / n,
        "sqs_requests_event_source": source_units["sqs_requests"] / n,
        "dynamodb_rru_http": http_units["rru"] / n,
        "dynamodb_rru_handler": handler_units["rru"] / n,
        "dynamodb_wru_handler": (handler_units["wru"] + http_units["wru"]) / n,
        "lambda_handler_invocations": len(handler_seconds) / n,
        "lambda_handler_gb_s": gb_s(handler_seconds) / n,
    }
    ddb, sqs, lam, gw = (prices["dynamodb_on_demand"], prices["sqs_standard"], prices["lambda"], prices["api_gateway_rest"])
    unit_price = {  # $ per unit; units/event x $/unit x 1e6 = $ per million events
        "api_gateway_requests": gw["requests_per_million"] / 1e6,
        "lambda_api_invocations": lam["requests_per_million"] / 1e6,
        "lambda_api_gb_s": lam["gb_second"],
        "sqs_requests_send": sqs["requests_per_million"] / 1e6,
        "sqs_requests_event_source": sqs["requests_per_million"] / 1e6,
        "dynamodb_rru_http": ddb["read_request_units_per_million"] / 1e6,
        "dynamodb_rru_handler": ddb["read_request_units_per_million"] / 1e6,
        "dynamodb_wru_handler": ddb["write_request_units_per_million"] / 1e6,
        "lambda_handler_invocations": lam["requests_per_million"] / 1e6,
        "lambda_handler_gb_s": lam["gb_second"],
    }
    cost = {k: per_event[k] * unit_price[k] * 1e6 for k in per_event}
    excluded = {f"{svc}.{op}" + (" (empty)" if side == "idle" else ""): v
                for (side, svc, op), v in ops.items() if side in ("local", "idle")}
    return {
        "events": n,
        "calls": {f"{side}:{svc}.{op}": v for (side, svc, op), v in sorted(ops.items())},
        "requests": requests,
        "requests_per_event": {**{k: v / n for k, v in requests.items()},
                               "total": sum(requests.values()) / n},
        "not_counted_local_artefacts": excluded,
        "transactions": int(handler_units["transactions"]),
        "transaction_items": int(handler_units["tx_items"]),
        "items_per_transaction": handler_units["tx_items"] / max(1, handler_units["transactions"]),
        "events_per_transaction": handler_units["tx_event_puts"] / max(1, handler_units["transactions"]),
        "batchget_calls": int(handler_units["batchget_calls"]),
        "batchget_keys": int(handler_units["batchget_keys"]),
        "keys_per_batchget": handler_units["batchget_keys"] / max(1, handler_units["batchget_calls"]),
        "sqs_payload_bytes_per_request": http_units["sqs_bytes"] / max(1, len(http_seconds)),
        "handler_invocations": len(handler_seconds),
        "handler_seconds_total": sum(handler_seconds),
        "http_requests": len(http_seconds),
        "http_seconds_total": sum(http_seconds),
        "botocore_clients_built": {side: v for (phase, side), v in meter.clients.items() if phase in (ingest, deliver)},
        "botocore_client_build_seconds": {side: round(v, 3) for (phase, side), v in meter.client_seconds.items()
                                          if phase in (ingest, deliver)},
        "units_per_event": per_event,
        "handler_wru_per_event_by_kind": {k[4:]: v / n for k, v in sorted(handler_units.items()) if k.startswith("wru:")},
        "handler_keys_read_per_event_by_kind": {k[5:]: v / n for k, v in sorted(handler_units.items()) if k.startswith("keys:")},
        "cost_per_million_events_usd": cost,
        "cost_per_million_events_usd_total": sum(cost.values()),
    }


def report_in_process(meter: Meter, workload: Workload, prices: dict[str, Any], messages: int, dup_messages: int,
                      seconds: float, state: dict[str, Any]) -> dict[str, Any]:
    n = len(workload.events)
    out: dict[str, Any] = {
        "events": n, "users": len({e["user_id"] for e in workload.events}), "batch": workload.batch,
        "messages_delivered": messages, "seconds": seconds,
        "stored": {"events": state["events"], "profiles": state["profiles"], "aggregates": len(state["stats"])},
        "first": phase_report(meter, n, "ingest", "deliver", prices),
        "prices": prices, "lambda_memory_mb": LAMBDA_MB,
    }
    if any(c.phase == "dup_ingest" for c in meter.calls):
        out["duplicate"] = {**phase_report(meter, n, "dup_ingest", "dup_deliver", prices), "messages_delivered": dup_messages}
    return out


# --------------------------------------------------------------------------------------
# Part 2: the local stack over HTTP


def run_stack(workload: Workload, threads: int) -> dict[str, Any]:
    import boto3

    from chalicelib.config import settings
    from devstack.harness import StackProcess

    n = len(workload.events)
    with tempfile.TemporaryDirectory(prefix="bench-stack-") as tmp:
        started_boot = time.perf_counter()
        stack = StackProcess(Path(tmp) / "state", bootstrap_key=BOOTSTRAP_KEY, demo=False)
        boot_seconds = time.perf_counter() - started_boot
        try:
            status, created = stack.call("POST", "/v1/workspaces", {"name": "Bench", "timezone": "UTC"}, key=BOOTSTRAP_KEY)
            assert status == 201, created
            workspace_id, key = created["workspace"]["id"], created["api_key"]["secret"]

            def post(events: list[dict[str, Any]]) -> float:
                t = time.perf_counter()
                status, body = stack.call("POST", "/v1/events", {"events": events}, key=key)
                assert status == 202, body
                return time.perf_counter() - t

            t0 = time.perf_counter()
            with ThreadPoolExecutor(max_workers=threads) as pool:
                latencies = list(pool.map(post, workload.requests))
            t_accepted = time.perf_counter()
            status, body = stack.call("POST", "/_local/clock", {"advance_seconds": 0})  # drains the queues first
            assert status == 200, body
            t_drained = time.perf_counter()

            ddb = boto3.client("dynamodb", endpoint_url=stack.moto_endpoint, region_name="us-east-1",
                               aws_access_key_id="local", aws_secret_access_key="local", aws_session_token="local")

            def stored() -> int:
                pages = ddb.get_paginator("scan").paginate(
                    TableName=settings.table("events"), Select="COUNT", FilterExpression="begins_with(pk, :p)",
                    ExpressionAttributeValues={":p": {"S": workspace_id + "#"}})
                return sum(p["Count"] for p in pages)

            count, extra_drains = stored(), 0
            # The clock route gives up draining after 60 s; if that happened, drain again.
            while count < n and extra_drains < 3:
                stack.call("POST", "/_local/clock", {"advance_seconds": 0})
                t_drained, count, extra_drains = time.perf_counter(), stored(), extra_drains + 1
        finally:
            exit_code = stack.stop()
    assert count == n, f"the local stack stored {count} of {n} events"
    latencies.sort()
    return {
        "events": n, "requests": len(workload.requests), "threads": threads, "stack_boot_seconds": boot_seconds,
        "accept_seconds": t_accepted - t0, "end_to_end_seconds": t_drained - t0,
        "accept_events_per_s": n / (t_accepted - t0), "end_to_end_events_per_s": n / (t_drained - t0),
        "post_latency_p50_s": latencies[len(latencies) // 2], "post_latency_max_s": latencies[-1],
        "stored_events": count, "extra_drains": extra_drains, "stack_exit_code": exit_code,
    }


# --------------------------------------------------------------------------------------
# Printing


def print_in_process(r: dict[str, Any]) -> None:
    n, first, dup = r["events"], r["first"], r.get("duplicate")
    print(f"\n== 1. AWS requests per event (in-process, moto) ==")
    print(f"{n} events, {r['users']} users, {r['batch']} per request -> {first['http_requests']} POSTs, "
          f"{r['messages_delivered']} SQS messages, {first['handler_invocations']} handler invocations")
    print(f"stored: {r['stored']['events']} events, {r['stored']['profiles']} profiles, {r['stored']['aggregates']} aggregates (checked)")
    titles = {"http": "HTTP side (API function)", "handler": "Queue handler (on_events function)",
              "event_source": "Event source (Lambda's SQS poller; billed SQS requests)"}
    head = f"  {'operation':<34}{'calls':>8}{'per event':>12}"
    if dup:
        head += f"{'dup calls':>12}{'per dup':>10}"
    print(head)
    for side, title in titles.items():
        print(f" {title}")
        keys = sorted({k for k in list(first["calls"]) + list((dup or {}).get("calls", {})) if k.startswith(side + ":")})
        for k in keys:
            a = first["calls"].get(k, 0)
            line = f"  {k.split(':', 1)[1]:<34}{a:>8}{a / n:>12.4f}"
            if dup:
                b = dup["calls"].get(k, 0)
                line += f"{b:>12}{b / n:>10.4f}"
            print(line)
        calls_row("= subtotal", first["requests"][side], (dup or {}).get("requests", {}).get(side), n, dup is not None)
    calls_row("TOTAL requests", sum(first["requests"].values()),
              sum(dup["requests"].values()) if dup else None, n, dup is not None)
    print(f"  not counted (local pump artefacts): {first['not_counted_local_artefacts']}")
    print(f"  TransactWriteItems: {first['transactions']} calls, {first['items_per_transaction']:.1f} items/transaction, "
          f"{first['events_per_transaction']:.1f} events/transaction")
    print(f"  BatchGetItem (handler): {first['batchget_calls']} calls, {first['keys_per_batchget']:.1f} keys/call")
    print("  handler WRU per event by item kind: "
          + ", ".join(f"{k} {v:.3f}" for k, v in first["handler_wru_per_event_by_kind"].items()))
    print("  handler keys read per event by kind: "
          + ", ".join(f"{k} {v:.3f}" for k, v in first["handler_keys_read_per_event_by_kind"].items()))
    print(f"  SQS payload per POST: {first['sqs_payload_bytes_per_request'] / 1024:.1f} KiB "
          f"({first['units_per_event']['sqs_requests_send'] * n / max(1, first['http_requests']):.1f} billed 64 KB chunks)")
    print(f"  botocore clients built: {first['botocore_clients_built']} in {first['botocore_client_build_seconds']} s")
    print(f"  local time: {first['http_seconds_total']:.2f} s in {first['http_requests']} POSTs, "
          f"{first['handler_seconds_total']:.2f} s in {first['handler_invocations']} handler invocations (moto in-process)")

    p = r["prices"]
    print(f"\n== Estimated cost per million events (us-east-1 LIST prices assumed as of {p['assumed_as_of']}; "
          f"Lambda {r['lambda_memory_mb']} MB, duration = local in-process time, a proxy) ==")
    labels = {
        "api_gateway_requests": "API Gateway REST requests", "lambda_api_invocations": "Lambda API invocations",
        "lambda_api_gb_s": "Lambda API GB-s", "sqs_requests_send": "SQS send (64 KB chunks)",
        "sqs_requests_event_source": "SQS receive+delete (poller)", "dynamodb_rru_http": "DynamoDB RRU, HTTP side",
        "dynamodb_rru_handler": "DynamoDB RRU, handler", "dynamodb_wru_handler": "DynamoDB WRU, handler",
        "lambda_handler_invocations": "Lambda handler invocations", "lambda_handler_gb_s": "Lambda handler GB-s",
    }
    head = f"  {'component':<32}{'units/event':>13}{'$/M events':>12}"
    if dup:
        head += f"{'units/dup':>12}{'$/M dups':>10}"
    print(head)
    for k, label in labels.items():
        line = f"  {label:<32}{first['units_per_event'][k]:>13.5f}{first['cost_per_million_events_usd'][k]:>12.3f}"
        if dup:
            line += f"{dup['units_per_event'][k]:>12.5f}{dup['cost_per_million_events_usd'][k]:>10.3f}"
        print(line)
    line = f"  {'TOTAL':<32}{'':>13}{first['cost_per_million_events_usd_total']:>12.3f}"
    if dup:
        line += f"{'':>12}{dup['cost_per_million_events_usd_total']:>10.3f}"
    print(line)
    if dup:
        print(f"\nDuplicate pass: the same {n} events re-sent with the same event ids; stored events and aggregates "
              f"unchanged (asserted). {dup['requests_per_event']['total']:.4f} requests per duplicate event.")


def calls_row(label: str, calls: int, dup_calls: int | None, n: int, with_dup: bool) -> None:
    line = f"  {label:<34}{calls:>8}{calls / n:>12.4f}"
    if with_dup:
        line += f"{dup_calls or 0:>12}{(dup_calls or 0) / n:>10.4f}"
    print(line)


def print_stack(s: dict[str, Any]) -> None:
    print(f"\n== 2. Local stack throughput (wall clock over real HTTP; moto-bound and noisy) ==")
    print(f"  {s['events']} events in {s['requests']} POSTs from {s['threads']} threads (stack booted in {s['stack_boot_seconds']:.1f} s)")
    print(f"  HTTP accept:  {s['accept_events_per_s']:>8.0f} events/s  ({s['accept_seconds']:.2f} s; POST p50 "
          f"{s['post_latency_p50_s'] * 1000:.0f} ms, max {s['post_latency_max_s'] * 1000:.0f} ms)")
    print(f"  end to end:   {s['end_to_end_events_per_s']:>8.0f} events/s  ({s['end_to_end_seconds']:.2f} s from the first "
          f"POST to the drain returning; {s['stored_events']} events stored, checked in moto)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000, help="events per pass (default 5000)")
    parser.add_argument("--users", type=int, default=1000, help="distinct users the events spread over (default 1000)")
    parser.add_argument("--batch", type=int, default=500, help="events per POST, at most 500 (default 500)")
    parser.add_argument("--threads", type=int, default=4, help="concurrent HTTP clients for the local stack (default 4)")
    parser.add_argument("--stack-events", type=int, default=None, help="events for the local stack (default --events)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-duplicates", action="store_true", help="skip the duplicate-delivery pass")
    parser.add_argument("--skip-stack", action="store_true", help="only the in-process request counts")
    parser.add_argument("--skip-in-process", action="store_true", help="only the local stack throughput")
    parser.add_argument("--json", metavar="OUT", help="also write the results as JSON")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= 500:
        parser.error("--batch must be 1..500 (the API's limit)")

    results: dict[str, Any] = {"argv": sys.argv[1:], "started_at": datetime.now(timezone.utc).isoformat()}
    started = time.perf_counter()
    if not args.skip_in_process:
        workload = make_workload(args.events, args.users, args.batch, args.seed, "ev")
        results["in_process"] = run_in_process(workload, dup=not args.no_duplicates)
        print_in_process(results["in_process"])
    if not args.skip_stack:
        workload = make_workload(args.stack_events or args.events, args.users, args.batch, args.seed + 1, "st")
        results["local_stack"] = run_stack(workload, args.threads)
        print_stack(results["local_stack"])
    results["seconds"] = time.perf_counter() - started
    print(f"\n(whole run {results['seconds']:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
