"""Journey runtime benchmark: user-steps per second, and SQS requests and DynamoDB write and
read units per user-step, for cohorts against a naive one-message-and-one-item-per-user
baseline run in the same process.

    .venv/bin/python bench/journey_steps.py [--users 10000] [--json out.json]

In process under moto, as the tests run the app: an audience of N members is written
straight into the audiences table (not counted), a journey of six nodes with no send is
published (trigger_audience -> random_split a/b -> wait 1 day -> tag_judgment -> End yes /
End no), and the steps queue is delivered through the real ``on_steps`` handler by the
pump (``drain_inline``); the clock is moved a day and the due-work schedule run once. A
user-step is one user passing one node (5 per user here: trigger, split, wait, judgment,
end). Every botocore call made inside a handler or the schedule is counted and its units
computed from item sizes (bench/meter.py: moto reports no ConsumedCapacity).

The baseline does what a one-item-per-user design does for the same walk: per user-step,
one SQS message (SendMessage) and one state item (PutItem of ~150 bytes: 1 WRU) plus the
receive; it is run through the same meter. Wall-clock throughput is moto's, indicative only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP_KEY = "bench-org-admin-key"
sys.path.insert(0, str(ROOT))
from devstack.fake_env import use_fake_aws  # noqa: E402 - imports no config

use_fake_aws(BOOTSTRAP_KEY)

STEPS_PER_USER = 5
START = datetime(2026, 11, 30, 1, 0, tzinfo=timezone.utc)


def _setup(users: int) -> tuple[str, str]:
    """A workspace, an audience of ``users`` members (snapshot written directly), and a
    published six-node journey. Returns (workspace id, journey id)."""
    from chalice.test import Client

    import app as app_module
    from chalicelib import clock
    from chalicelib.audiences import repo as audiences_repo

    client = Client(app_module.app, project_dir=str(ROOT))

    def call(method: str, path: str, body: Any, key: str) -> Any:
        r = client.http.request(method, path, headers={"Content-Type": "application/json",
                                                      "Authorization": f"Bearer {key}"},
                                body=json.dumps(body).encode())
        assert r.status_code < 300, r.body
        return json.loads(r.body) if r.body else None

    created = call("POST", "/v1/workspaces", {"name": "bench", "timezone": "UTC"}, BOOTSTRAP_KEY)
    ws, key = created["workspace"]["id"], created["api_key"]["secret"]
    snapshot_id = "snp_bench"
    audiences_repo.create_audience(audiences_repo.AudienceRecord(
        workspace_id=ws, audience_id="aud_bench", name="bench", visibility="public", source={"type": "upload"},
        owner_key_id=None, status="ready", created_at=clock.iso(START), updated_at=clock.iso(START),
        current_snapshot=snapshot_id))
    audiences_repo.write_pages(SimpleNamespace(workspace_id=ws, snapshot_id=snapshot_id),  # type: ignore[arg-type]
                               sorted(f"user-{i:08d}" for i in range(users)))
    graph = {"nodes": [
        {"id": "t", "type": "trigger_audience", "config": {"audience_id": "aud_bench"}},
        {"id": "split", "type": "random_split", "config": {"groups": [{"id": "a", "percent": 50},
                                                                     {"id": "b", "percent": 50}]}},
        {"id": "w", "type": "wait", "config": {"duration": "P1D"}},
        {"id": "tj", "type": "tag_judgment", "config": {"tags": ["vip"]}},
        {"id": "yes", "type": "end", "config": {}}, {"id": "no", "type": "end", "config": {}}],
        "edges": [{"from": "t", "to": "split"}, {"from": "split", "to": "w", "branch": "a"},
                  {"from": "split", "to": "w", "branch": "b"}, {"from": "w", "to": "tj"},
                  {"from": "tj", "to": "yes", "branch": "yes"}, {"from": "tj", "to": "no", "branch": "no"}]}
    journey = call("POST", "/v1/journeys", {"name": "bench"}, key)
    call("PUT", f"/v1/journeys/{journey['id']}/graph", {**graph, "revision": journey["revision"]}, key)
    return ws, journey["id"], key, call  # type: ignore[return-value]


def _baseline(meter: Any, user_steps: int, workspace_id: str) -> None:
    """One SQS message and one per-user state item per user-step, metered as a handler."""
    from chalicelib import aws
    from chalicelib.config import settings

    sqs, ddb = aws.sqs(), aws.dynamodb()
    url = aws.queue_url(settings.queue("steps"))
    table = settings.table("journeys")
    meter._local.role = "handler"
    try:
        for i in range(user_steps):
            user = f"user-{i // STEPS_PER_USER:08d}"
            sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"user": user, "node": i % STEPS_PER_USER}))
            ddb.put_item(TableName=table, Item={
                "pk": {"S": f"{workspace_id}#naive#{user}"}, "sk": {"S": "state"}, "kind": {"S": "naive"},
                "node": {"S": f"n{i % STEPS_PER_USER}"}, "entry": {"S": "start"},
                "entered_at": {"S": "2026-11-30T01:00:00.000Z"}, "at": {"S": "2026-11-30T01:00:00.000Z"}})
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1).get("Messages", [])
            for m in got:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    finally:
        meter._local.role = None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--baseline-steps", type=int, default=5_000,
                        help="user-steps the naive baseline runs (its units per step do not depend on N)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from moto import mock_aws

    from devstack import moto_patches

    moto_patches.install()
    with mock_aws():
        from bench.meter import Meter, Units, index_keys
        from chalicelib import aws, clock
        from chalicelib.config import settings
        from devstack import resources

        meter = Meter(Units(index_keys(settings.resource_prefix)))
        meter.install()
        aws.reset()
        resources.create_all(aws.dynamodb(), aws.sqs(), settings.resource_prefix, s3=aws.s3())
        from devstack import gateway

        gateway.install()
        import app as app_module
        from chalicelib.journeys import runtime_repo
        from chalicelib.scheduling import dispatch
        from devstack.pump import drain_inline

        now = {"at": START}
        clock.now = lambda: now["at"]
        ws, jid, key, call = _setup(args.users)  # type: ignore[misc]
        meter.wrap_handlers(app_module.app)
        meter.active = True
        started = time.perf_counter()
        call("POST", f"/v1/journeys/{jid}/publish", {}, key)
        meter.calls[:] = [c for c in meter.calls if c.side != "api"]  # the publish request is not a step
        drain_inline(app_module.app, max_rounds=100_000)
        now["at"] = START + timedelta(days=1, minutes=1)
        meter._local.role = "schedule"
        dispatch.run_due(now["at"])
        meter._local.role = None
        drain_inline(app_module.app, max_rounds=100_000)
        seconds = time.perf_counter() - started
        counted = runtime_repo.read_stats(ws, jid)
        user_steps = sum(v.get("entered", 0) for v in counted.values())
        assert user_steps == STEPS_PER_USER * args.users, (user_steps, counted)
        assert counted["w"].get("waiting", 0) == 0
        cohorts_summary = meter.summary(user_steps, seconds)
        meter.active = False

        meter.reset()
        meter.active = True
        started = time.perf_counter()
        baseline_steps = min(user_steps, args.baseline_steps)
        _baseline(meter, baseline_steps, ws)
        baseline_summary = meter.summary(baseline_steps, time.perf_counter() - started)
        meter.active = False

    keys = ("per_second", "requests_per_unit", "dynamodb_requests_per_unit", "sqs_requests_per_unit",
            "wru_per_unit", "rru_per_unit", "requests_per_unit_by_operation", "cost_per_million_usd")
    report = {"users": args.users, "user_steps": user_steps, "nodes": 6, "baseline_user_steps": baseline_steps,
              "cohorts": {k: cohorts_summary[k] for k in keys},
              "naive_baseline": {k: baseline_summary[k] for k in keys},
              "units_source": cohorts_summary["units_source"]}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
