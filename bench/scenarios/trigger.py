"""`trigger`: event-to-first-send latency of a behaviour-event journey (unit: one user triggered).

The journey: trigger_event ``bench_signup`` -> SMS -> End. Setup, not measured: K profiles
with phones (written straight into the table), a sandbox SMS account (receipts a day
out) and an approved template, the journey created, its graph put and published over HTTP.
Measured: one ``POST /v1/events`` per user, one event each, offered at a steady
``RATE`` per second from the driver (the stack's pumps, handlers and sender run meanwhile),
then the queues drained. Each user's latency runs from just before their POST to the
"sent" time in their message record's history (both on the stack's clock, which this
process shares; millisecond precision). Checked: every user got exactly one message.

Latency here is moto-bound and includes the local pumps' polling: indicative, like
``per_second`` (which is the offered rate, not a capacity). The per-unit requests, units
and cost cover the whole path: the event's ingest, the journey entry, the send and the End.
"""
from __future__ import annotations

import math
import time
from typing import Any

from bench.scenarios import scenario
from bench.harness import seed_profiles
from bench.scenarios.task import sandbox_and_template

RATE = 2.0  # events offered per second: under the pipeline's capacity on moto, so latency is not queueing
EVENT = "bench_signup"


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def sent_times(workspace_id: str, journey_id: str) -> dict[str, list[str]]:
    """user -> the "sent" times in their journey messages' histories, as readers see them
    (a sandbox message stays ``claimed`` in the table: ``repo_messages.settle_items``;
    16 Queries and the outcomes items, driver side)."""
    from chalicelib.models.messages import MessageItem
    from chalicelib.sending.messages import SHARDS
    from chalicelib.sending.repo_messages import settle_items

    found: dict[str, list[str]] = {}
    for shard in range(SHARDS):
        items = list(MessageItem.query(f"{workspace_id}#journey#{journey_id}#{shard:02d}"))
        for item in settle_items(items):
            found.setdefault(item.user_id, []).extend(h.at for h in item.history or [] if h.status == "sent")
    return found


@scenario("trigger", unit="user triggered", default_size=200, tiny_size=10)
def run(bench: Any, size: int, seed: int, progress: Any) -> dict[str, Any]:
    from chalicelib import clock

    bench.hold_receipts()
    workspace_id, key = bench.workspace("bench-trigger")
    users = seed_profiles(workspace_id, size, progress, "trigger")
    (template_id,) = sandbox_and_template(bench, key)
    journey = bench.call("POST", "/v1/journeys", key, {"name": "bench trigger"})
    jid = journey["id"]
    bench.call("PUT", f"/v1/journeys/{jid}/graph", key, {"revision": journey["revision"], "nodes": [
        {"id": "t", "type": "trigger_event", "config": {"event": EVENT}},
        {"id": "s", "type": "sms", "config": {"provider": "sbx", "template_id": template_id}},
        {"id": "end", "type": "end", "config": {}}],
        "edges": [{"from": "t", "to": "s"}, {"from": "s", "to": "end"}]})
    assert bench.call("POST", f"/v1/journeys/{jid}/publish", key)["status"] == "running"
    bench.drain()
    posted: dict[str, Any] = {}
    bar = progress.add_task("trigger: events", total=size)
    with bench.measure() as measured:
        started = time.monotonic()
        for i, user in enumerate(users):
            pause = started + i / RATE - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            posted[user] = clock.now()
            bench.call("POST", "/v1/events", key, {"events": [
                {"user_id": user, "name": EVENT, "event_id": f"ev-{user}", "properties": {"source": "bench"}}]})
            progress.advance(bar)
        bench.drain(timeout=1800)
    sent = sent_times(workspace_id, jid)
    assert sorted(sent) == users and all(len(times) == 1 for times in sent.values()), (
        f"{len(sent)} of {size} users got a message", [u for u, t in sent.items() if len(t) != 1][:5])
    latencies = [(clock.parse_iso(sent[user][0]) - posted[user]).total_seconds() * 1000 for user in users]
    return dict(measured.summary(size)) | {
        "p50_ms": round(percentile(latencies, 50)), "p95_ms": round(percentile(latencies, 95)),
        "max_ms": round(max(latencies)), "offered_per_second": RATE,
        "latency_note": "from just before each POST /v1/events to the message's sent time; moto-bound, indicative"}
