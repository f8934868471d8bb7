"""`task`: a marketing task to N users (unit: one message).

Setup, not measured: N profiles with a phone each and an audience snapshot of them, written
straight into the tables; a sandbox SMS provider account and an approved template, over
HTTP. Measured: ``POST /v1/tasks`` to the audience, then the stack's queues drained and the
clock moved a minute at a time (the task's reconciliation check is due a minute after its
last page) until the task is ``done`` (read in process: the benchmark's polling is not
billed), then ``GET /v1/tasks/{id}``. Checked: the reconciliation
``targeted = sent + dropped + failed + pending`` holds, with everyone sent.

The sandbox's receipts are planned a day out, so none is posted while this runs.
``--baseline naive``: one user-step (the send) per user, the naive way (bench/scenarios/naive.py).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bench.harness import seed_profiles
from bench.scenarios import naive, scenario

RECEIPT_DELAY_SECONDS = 86400  # the most the sandbox takes
TEMPLATE = {"channel": "sms", "name": "bench task", "body": "Hi {{ profile.user_id }}, {{ offer }}",
            "variables": {"offer": "10% off today"}}
MAX_ROUNDS = 60


def write_audience(workspace_id: str, users: list[str], audience_id: str = "aud_bench") -> str:
    """A ready audience whose snapshot holds ``users`` (written directly: setup)."""
    from chalicelib import clock
    from chalicelib.audiences import repo as audiences_repo

    now = clock.iso(clock.now())
    snapshot_id = f"snp_{audience_id}"
    audiences_repo.create_audience(audiences_repo.AudienceRecord(
        workspace_id=workspace_id, audience_id=audience_id, name=audience_id, visibility="public",
        source={"type": "upload"}, owner_key_id=None, status="ready", created_at=now, updated_at=now,
        current_snapshot=snapshot_id))
    audiences_repo.write_pages(SimpleNamespace(workspace_id=workspace_id, snapshot_id=snapshot_id),  # type: ignore[arg-type]
                               sorted(users))
    return audience_id


def sandbox_and_template(bench: Any, key: str, failure_rate: float = 0.0, templates: int = 1) -> list[str]:
    """A sandbox SMS account ``sbx`` (receipts far off) and approved templates: their ids."""
    settings: dict[str, Any] = {"receipt_delay_seconds": RECEIPT_DELAY_SECONDS}
    if failure_rate:
        settings["failure_rate"] = failure_rate
    bench.call("PUT", "/v1/providers/sbx", key, {"channel": "sms", "kind": "sandbox", "cost_per_message": 0.0,
                                                 "settings": settings})
    made = []
    for n in range(templates):
        tid = bench.call("POST", "/v1/templates", key, {**TEMPLATE, "name": f"{TEMPLATE['name']} {n}"})["id"]
        bench.call("POST", f"/v1/templates/{tid}/approve", key)
        made.append(tid)
    return made


@scenario("task", unit="message", default_size=20_000, tiny_size=50, baselines=("naive",))
def run(bench: Any, size: int, seed: int, progress: Any, baseline: str | None = None) -> dict[str, Any]:
    from chalicelib.tasks import service

    bench.hold_receipts()
    workspace_id, key = bench.workspace("bench-task")
    users = seed_profiles(workspace_id, size, progress, "task")
    audience_id = write_audience(workspace_id, users)
    (template_id,) = sandbox_and_template(bench, key)
    bar = progress.add_task("task: sending", total=size)
    with bench.measure() as measured:
        task = bench.call("POST", "/v1/tasks", key, {"name": "bench task", "channel": "sms", "provider": "sbx",
                                                     "audience_id": audience_id, "template_id": template_id})
        for _ in range(MAX_ROUNDS):
            bench.drain(timeout=1800)
            # read in process on the driver's thread: the benchmark's polling is not billed
            shown = service.get(workspace_id, task["id"])
            progress.update(bar, completed=shown.reconciliation.get("sent", 0))
            if shown.status.value != "sending":
                break
            bench.advance(60)  # the reconciliation check is due a minute on
    task = bench.call("GET", f"/v1/tasks/{task['id']}", key)
    equation = task["reconciliation"]
    assert task["status"] == "done", task
    assert equation["targeted"] == size and equation["sent"] == size, equation
    assert equation["targeted"] == equation["sent"] + equation["dropped"] + equation["failed"] + equation["pending"]
    result = dict(measured.summary(size)) | {"reconciliation": {k: equation[k] for k in (
        "targeted", "sent", "dropped", "failed", "pending")}}
    if baseline == "naive":
        from chalicelib.config import settings

        walked = naive.run(bench, [(u, "send") for u in users], settings.table("messages"), workspace_id, progress,
                         "task")
        result |= naive.compare(result, walked)
    return result
