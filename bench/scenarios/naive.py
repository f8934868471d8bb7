"""The naive baseline of ``--baseline naive``: one SQS message and one DynamoDB item per user per step.

This is the design of cron-batch marketing tools, implemented here in the benchmark (it is
not product code) on the same moto server and metered by the same meter, so its numbers
sit beside ours: for every user-step (a user passing one journey node, or one task message)
it sends one SQS message (SendMessage), writes the user's state item (PutItem, ~150 bytes:
1 WRU) and has a worker receive (ReceiveMessage of 1) and delete (DeleteMessage) the message;
each received message is one Lambda invocation of 512 MB. It reuses the design of
``bench/journey_steps.py``. It makes no provider call and keeps no counters: what it
leaves out would cost the same in both designs or favours it.

Its calls are made on the driver's thread under the role ``naive``, then billed as a
handler's; calls the stack made meanwhile (its schedules) are left out.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

QUEUE = "bench-naive-steps"
# Its cost per user-step does not depend on how many it walks: it walks at most this many.
MAX_STEPS = 5_000
DESIGN = ("naive baseline, implemented in the benchmark (not product code): per user-step one SQS SendMessage, "
          "one PutItem of the user's ~150-byte state item, one ReceiveMessage and one DeleteMessage; one Lambda "
          "invocation per message received")


def run(bench: Any, steps: Sequence[tuple[str, str]], table: str, workspace_id: str, progress: Any,
        label: str) -> dict[str, Any]:
    """Walk ``steps`` ((user, node) pairs, at most MAX_STEPS of them) the naive way; the
    meter's summary per user-step."""
    steps = steps[:MAX_STEPS]
    from chalicelib import aws, clock

    sqs, ddb = aws.sqs(), aws.dynamodb()
    url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]  # unmeasured setup
    now = clock.iso(clock.now())
    durations: list[float] = []
    bar = progress.add_task(f"{label}: naive baseline", total=len(steps))
    with bench.measure() as measured, bench.as_side("naive"):
        for user, node in steps:
            started = time.perf_counter()
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"workspace_id": workspace_id, "user": user,
                                                                   "node": node}))
            ddb.put_item(TableName=table, Item={
                "pk": {"S": f"{workspace_id}#naive#{user}"}, "sk": {"S": "state"}, "kind": {"S": "naive"},
                "node": {"S": node}, "entry": {"S": "start"}, "entered_at": {"S": now}, "at": {"S": now}})
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
            for message in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            durations.append(time.perf_counter() - started)
            progress.advance(bar)
    meter = bench.meter
    meter.calls[:] = [replace(c, side="handler") for c in meter.calls if c.side == "naive"]
    meter.invocations[:] = [("naive", seconds) for seconds in durations]
    return dict(measured.summary(len(steps))) | {"design": DESIGN}


def compare(ours: dict[str, Any], naive: dict[str, Any]) -> dict[str, Any]:
    """The ``baseline`` sub-object and ``baseline_ratio`` (naive cost ÷ ours) for a result."""
    keys = ("units", "seconds", "per_second", "requests_per_unit", "requests_per_unit_by_operation",
            "dynamodb_requests_per_unit", "sqs_requests_per_unit", "wru_per_unit", "rru_per_unit",
            "lambda_invocations_per_unit", "cost_per_million_usd", "cost_per_million_usd_by_part", "design")
    ratio = naive["cost_per_million_usd"] / ours["cost_per_million_usd"] if ours["cost_per_million_usd"] else None
    return {"baseline": {"name": "naive", **{k: naive[k] for k in keys if k in naive}},
            "baseline_ratio": round(ratio, 2) if ratio is not None else None}
