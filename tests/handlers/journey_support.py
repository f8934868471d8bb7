"""Helpers for journey runtime tests: a workspace with profiles, a sandbox SMS provider, an
approved template and audiences; journeys from a node list; a clock the test moves; and a
drain that delivers every steps message several times."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib import aws, clock
from chalicelib.config import settings
from chalicelib.scheduling import buckets, dispatch
from chalicelib.scheduling import repo as schedule_repo
from chalicelib.sending import repo_messages
from chalicelib.sending.messages import MessageKey

START = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)  # 09:00 in Asia/Shanghai, a Monday


class Clock:
    def __init__(self, monkeypatch, at: datetime = START):
        self.at = at
        monkeypatch.setattr(clock, "now", lambda: self.at)
        # the drain's cursor is one per stack; earlier tests moved their clocks past ours
        aws.dynamodb().delete_item(TableName=settings.table("schedule"),
                                   Key={"pk": {"S": buckets.CURSOR_PK}, "sk": {"S": buckets.CURSOR_SK}})
        schedule_repo.advance_cursor(buckets.bucket_of(at - timedelta(minutes=1)))

    def advance(self, **delta: float) -> datetime:
        self.at += timedelta(**delta)
        return self.at

    def run_due(self) -> list:
        """Drain the due-work index through now (a drain reads at most a day of minutes)."""
        ran: list = []
        for _ in range(30):
            ran += dispatch.run_due(self.at)
            if (schedule_repo.cursor() or "") >= buckets.bucket_of(self.at):
                break
        return ran


def close_entry_windows_at_once(monkeypatch) -> list:
    """Event-trigger entry windows close as soon as their first entry is written (not after
    the window's seconds of real SQS delay); returns the close messages queued."""
    from chalicelib.journeys import gathering, runtime

    queued: list = []

    def at_once(message, delay):
        queued.append(message)
        runtime.enqueue([message])

    monkeypatch.setattr(gathering, "schedule_close", at_once)
    return queued


def setup(api, key, drain, users: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Profiles (attributes, tags), provider sms1, an approved SMS template, audience 'all'."""
    assert api.put("/v1/providers/sms1", {"channel": "sms", "kind": "sandbox", "settings": {}}, key=key).status == 200
    r = api.post("/v1/templates", {"channel": "sms", "name": "hi", "body": "Hi"}, key=key)
    assert r.status == 201, r.json
    assert api.post(f"/v1/templates/{r.json['id']}/approve", key=key).status == 200
    ids = {"template": r.json["id"]}
    for user, profile in users.items():
        body = {"attributes": {"city": "Hangzhou", **profile.get("attributes", {})},
                "phone": "+8613800000000"}
        assert api.put(f"/v1/profiles/{user}", body, key=key).status in (200, 201)
        if profile.get("tags"):
            assert api.post(f"/v1/profiles/{user}/tags", {"add": profile["tags"]}, key=key).status == 200
    ids["audience"] = audience(api, key, drain, "all", [{"attribute": "city", "op": "exists"}])
    return ids


def audience(api, key, drain, name: str, conditions: list[dict[str, Any]]) -> str:
    r = api.post("/v1/audiences", {"name": name, "visibility": "public", "source": {
        "type": "rules", "match": "all", "conditions": conditions}}, key=key)
    assert r.status == 202, r.json
    drain()
    assert api.get(f"/v1/audiences/{r.json['id']}", key=key).json["status"] == "ready"
    return r.json["id"]


def chain(*nodes: tuple[str, str, dict[str, Any]], edges: list[tuple[str, str, str | None]] | None = None) -> dict:
    """Nodes (id, type, config); edges given, or each node to the next."""
    found = [{"id": i, "type": t, "config": c} for i, t, c in nodes]
    if edges is None:
        edges = [(a[0], b[0], None) for a, b in zip(nodes, nodes[1:])]
    return {"nodes": found, "edges": [{"from": a, "to": b, **({"branch": br} if br else {})} for a, b, br in edges]}


def publish(api, key, graph: dict, **settings_: Any) -> str:
    r = api.post("/v1/journeys", {"name": "J", **settings_}, key=key)
    assert r.status == 201, r.json
    jid = r.json["id"]
    put = api.put(f"/v1/journeys/{jid}/graph", {**graph, "revision": r.json["revision"]}, key=key)
    assert put.status == 200, put.json
    published = api.post(f"/v1/journeys/{jid}/publish", key=key)
    assert published.status == 200, published.json
    return jid


def stats(api, key, jid: str) -> dict[str, dict[str, Any]]:
    r = api.get(f"/v1/journeys/{jid}/stats", key=key)
    assert r.status == 200, r.json
    return {n["node_id"]: n for n in r.json["nodes"]}


def message_status(workspace_id: str, jid: str, node: str, entry: str, users: list[str]) -> dict[str, str]:
    keys = {MessageKey(workspace_id, u, journey_id=jid, node_id=node, entry_id=entry): u for u in users}
    return {keys[k]: r.status for k, r in repo_messages.read(list(keys)).items()}


def steps_queue_depth() -> int:
    attrs = aws.sqs().get_queue_attributes(QueueUrl=aws.queue_url(settings.queue("steps")),
                                           AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])


def drain_repeating(app, times: int = 3, max_rounds: int = 200) -> int:
    """Like drain, but every batch of the steps queue is handled ``times`` times (as if
    every message were delivered again after it was processed)."""
    from devstack import pump

    total = 0
    queues = pump.bindings(app)
    for _ in range(max_rounds):
        received = 0
        for binding in queues:
            if binding.queue != "steps":
                received += pump.deliver_once(app, binding, retry_seconds=0)
                continue
            sqs = aws.sqs()
            messages = sqs.receive_message(QueueUrl=binding.url, MaxNumberOfMessages=10,
                                           AttributeNames=["All"]).get("Messages", [])
            if not messages:
                continue
            event = pump.sqs_event(messages, binding.arn, settings.region)
            for _ in range(times):
                app.handler_map[binding.handler](event, pump.FakeContext(binding.handler))
            sqs.delete_message_batch(QueueUrl=binding.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            received += len(messages)
        total += received
        if received == 0:
            break
    return total


__all__ = ["Clock", "close_entry_windows_at_once", "setup", "audience", "chain", "publish", "stats", "message_status", "drain_repeating"]
