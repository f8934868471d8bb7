"""`send` and `receipts`: the send pipeline with the sandbox provider.

``send`` (unit: one message sent): N users with profiles (a phone each, written straight
into the table: setup), an approved SMS template and a sandbox provider account; then,
measured, SendMessages of 100 recipients each (user ids only: the sender finds each
phone on the profile) put on the sends queue, as a task would (the SendMessageBatch calls
are billed: a task pays them), until every queue is drained and every message is sent.

``receipts`` (unit: one receipt): the sandbox's planned receipts (delivered, and some
opened and clicked) posted back to ``POST /v1/receipts/sbx`` by its schedule as the clock
moves on (``bench.advance``), applied from the receipts queue; measured until every
message has all of its receipts. The sandbox's own POSTs are counted as API requests.
It reuses the messages ``send`` sent when ``send`` ran first at the same size.
"""
from __future__ import annotations

import uuid
from typing import Any

from bench.harness import seed_profiles
from bench.scenarios import scenario

BATCH = 100
TEMPLATE = {"channel": "sms", "name": "bench", "body": "Hi {{ profile.user_id }}, {{ offer }}",
            "variables": {"offer": "10% off today"}}
# Receipts are planned an hour apart, so none is due while ``send`` runs (the stack's
# scheduler would post them on the wall clock); ``receipts`` moves the clock an hour a step.
RECEIPT_DELAY_SECONDS = 3600
_sent: dict[str, Any] = {}


def _billed_as_app(bench: Any) -> Any:
    """The driver's SendMessageBatch calls, billed as the task's (``app`` side)."""
    class Role:
        def __enter__(self) -> None:
            bench.meter._local.role = "app"

        def __exit__(self, *exc: object) -> None:
            bench.meter._local.role = None
    return Role()


def _setup(bench: Any, size: int, progress: Any) -> dict[str, Any]:
    workspace_id, key = bench.workspace("bench-send")
    users = seed_profiles(workspace_id, size, progress, "send")
    bench.call("PUT", "/v1/providers/sbx", key, {"channel": "sms", "kind": "sandbox", "cost_per_message": 0.0,
                                                 "settings": {"receipt_delay_seconds": RECEIPT_DELAY_SECONDS}})
    tid = bench.call("POST", "/v1/templates", key, TEMPLATE)["id"]
    bench.call("POST", f"/v1/templates/{tid}/approve", key)
    return {"workspace_id": workspace_id, "key": key, "users": users, "template_id": tid,
            "task_id": "tsk_" + uuid.uuid4().hex[:10], "size": size}


def _send(bench: Any, state: dict[str, Any], progress: Any) -> None:
    from chalicelib import clock
    from chalicelib.sending.queue import SendMessage, enqueue

    users = state["users"]
    messages = [SendMessage.model_validate({
        "workspace_id": state["workspace_id"], "channel": "sms", "task_id": state["task_id"],
        "template_id": state["template_id"], "provider": {"name": "sbx"},
        "recipients": [{"user_id": u} for u in users[i:i + BATCH]]}) for i in range(0, len(users), BATCH)]
    task = progress.add_task("send: enqueue", total=len(messages))
    with _billed_as_app(bench):
        for start in range(0, len(messages), 100):
            enqueue(messages[start:start + 100], clock.now())
            progress.advance(task, len(messages[start:start + 100]))
    bench.drain()


def _counters(bench: Any, state: dict[str, Any]) -> dict[str, float]:
    from chalicelib.counters import repo as counters

    return counters.read(state["workspace_id"], f"task#{state['task_id']}")


def _expected_receipts(state: dict[str, Any]) -> dict[str, int]:
    from chalicelib import clock
    from chalicelib.providers.sandbox import planned_receipts
    from chalicelib.sending.messages import MessageKey

    counts = {"delivered": 0, "opened": 0, "clicked": 0}
    for user in state["users"]:
        key = MessageKey(state["workspace_id"], user, task_id=state["task_id"]).idempotency_key
        for planned in planned_receipts(key, clock.now(), {"receipt_delay_seconds": RECEIPT_DELAY_SECONDS}):
            counts[planned["status"]["S"]] += 1
    return counts


@scenario("send", unit="message sent", default_size=5_000, tiny_size=200)
def run_send(bench: Any, size: int, seed: int, progress: Any) -> dict[str, Any]:
    state = _setup(bench, size, progress)
    with bench.measure() as measured:
        _send(bench, state, progress)
    counted = _counters(bench, state)
    assert counted["sent"] == size and counted["failed"] == 0, counted
    _sent.clear()
    _sent.update(state)
    return measured.summary(size) | {"recipients_per_send_message": BATCH}


@scenario("receipts", unit="receipt", default_size=5_000, tiny_size=200)
def run_receipts(bench: Any, size: int, seed: int, progress: Any) -> dict[str, Any]:
    from chalicelib.receipts import sandbox_poster

    state = dict(_sent) if _sent.get("size") == size else None
    if state is None:  # run alone: send first, unmeasured
        state = _setup(bench, size, progress)
        _send(bench, state, progress)
    expected = _expected_receipts(state)
    total = sum(expected.values())
    posts = [0]
    real_post = sandbox_poster.transport

    def counted_post(url: str, body: bytes, headers: dict[str, str]) -> int:
        posts[0] += 1  # the sandbox's POST /v1/receipts: an API Gateway request and a Lambda invocation
        return real_post(url, body, headers)

    sandbox_poster.transport = counted_post
    try:
        with bench.measure() as measured:
            for _ in range(10):
                bench.advance(RECEIPT_DELAY_SECONDS)
                counted = _counters(bench, state)
                if (counted["delivered"], counted["opened"], counted["unique_clicks"]) == (
                        expected["delivered"], expected["opened"], expected["clicked"]):
                    break
            bench.api_requests += posts[0]
    finally:
        sandbox_poster.transport = real_post
    counted = _counters(bench, state)
    assert (counted["delivered"], counted["opened"], counted["clicked"]) == (
        expected["delivered"], expected["opened"], expected["clicked"]), (counted, expected)
    return measured.summary(total) | {"messages": size, "receipts": expected, "receipt_posts": posts[0]}
