"""The local stack in this process (moto's server in a subprocess), metered.

The stack is the one ``make run`` starts (devstack.stack.LocalStack: moto server, the
app, its SQS pumps and schedules, the HTTP server), without the demo workspace and
without kept state. Running it in the benchmark's process lets the meter see every AWS
request the app makes. The driver talks HTTP to it like any client.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import httpx

from bench.meter import Meter, Units, index_keys


def seed_profiles(workspace_id: str, n: int, progress: Any, label: str) -> list[str]:
    """N profiles with a phone and a first name, written straight into the table in batches
    (setup, not measured): their ids, sorted."""
    from chalicelib import dynamo
    from chalicelib.config import settings
    from chalicelib.profiles.repo import ProfileRecord, profile_item

    bar = progress.add_task(f"{label}: seed profiles", total=n)
    users, chunk = [], []
    for i in range(n):
        user_id = f"user-{i:08d}"
        users.append(user_id)
        record = ProfileRecord(
            workspace_id=workspace_id, user_id=user_id, attributes={"first_name": f"N{i}", "plan": "pro"},
            channels={"phone": f"+86139{i:08d}"}, tags=frozenset(),
            created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z", version=1)
        chunk.append(profile_item(record).serialize())
        if len(chunk) == 2_000 or i == n - 1:
            dynamo.batch_put(settings.table("profiles"), chunk)
            progress.advance(bar, len(chunk))
            chunk = []
    return users


class Bench:
    def __init__(self, workers: int = 2):
        self.meter: Meter | None = None
        self.workers = workers
        self.api_requests = 0
        self.receipts_are_held = False

    def start(self) -> "Bench":
        import os

        from devstack.stack import LocalStack

        os.environ.setdefault("MA_LOG_LEVEL", "WARNING")  # the stack's INFO lines would bury the table
        self.stack = LocalStack(argparse.Namespace(port=0, state_dir="", no_demo=True, workers=self.workers))
        from chalicelib.config import settings

        self.meter = Meter(Units(index_keys(settings.resource_prefix)))
        self.meter.install()  # before the app builds its clients
        self.stack.boot()
        self.meter.wrap_handlers(self.stack.app)
        self.stack.serve()
        self.base = f"http://127.0.0.1:{self.stack.port}"
        self.http = httpx.Client(base_url=self.base, timeout=120)
        self.org_key = os.environ["MA_BOOTSTRAP_KEY"]
        return self

    def stop(self) -> None:
        self.http.close()
        self.stack.stop.set()
        self.stack.http.server.shutdown()
        self.stack.pump.stop()
        self.stack.moto.terminate()
        self.stack.moto.wait(timeout=10)

    # ------------------------------------------------------------------ driving
    def call(self, method: str, path: str, key: str, json: Any = None, expect: tuple[int, ...] = (200, 201, 202)) -> Any:
        answer = self.http.request(method, path, json=json, headers={"Authorization": f"Bearer {key}"})
        self.api_requests += 1
        if answer.status_code not in expect:
            raise AssertionError(f"{method} {path}: {answer.status_code} {answer.text[:500]}")
        return answer.json() if answer.content else None

    def workspace(self, name: str = "bench") -> tuple[str, str]:
        """A new workspace: (workspace id, admin key)."""
        made = self.call("POST", "/v1/workspaces", self.org_key, {"name": name})
        return made["workspace"]["id"], made["api_key"]["secret"]

    def drain(self, timeout: float = 600) -> None:
        if not self.stack.pump.drain(timeout=timeout):
            from chalicelib import aws

            held = {b.url.rsplit("/", 1)[-1]: aws.sqs().get_queue_attributes(QueueUrl=b.url, AttributeNames=[
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed"])["Attributes"] for b in self.stack.pump.bindings}
            raise AssertionError(f"the queues did not drain within {timeout:g} s: "
                                 f"{ {q: a for q, a in held.items() if any(v != '0' for v in a.values())} }")

    def advance(self, seconds: float) -> dict[str, Any]:
        """POST /_local/clock: move time, run what became due, drain."""
        answer = self.http.post("/_local/clock", json={"advance_seconds": seconds})
        answer.raise_for_status()
        return dict(answer.json())

    def advance_by(self, seconds: float, part: float = 12 * 3600, timeout: float = 1800) -> None:
        """Move the clock ``seconds`` in parts (the one-minute schedule takes at most a day of
        due minutes per run), draining after each."""
        while seconds > 0:
            step = min(seconds, part)
            self.advance(step)
            self.drain(timeout)
            seconds -= step

    def measure(self) -> "Measured":
        return Measured(self)

    def hold_receipts(self) -> None:
        """From now on, for the rest of the run, the sandbox's one-minute receipt poster does
        nothing (what is due stays due). Receipts are the ``receipts`` scenario's (which runs
        before the scenarios that call this); held only while measuring, the receipts of
        earlier scenarios would be posted in a flood between two measurements (after the
        journey's day) and spill into the next."""
        from chalicelib.receipts import sandbox_poster

        if not self.receipts_are_held:
            sandbox_poster.post_due = lambda now: {}
            self.receipts_are_held = True

    def as_side(self, role: str | None) -> "Side":
        """``with bench.as_side("app"): ...``: the calls this thread makes are billed as ``role``."""
        return Side(self, role)


class Side:
    def __init__(self, bench: Bench, role: str | None):
        self.bench, self.role = bench, role

    def __enter__(self) -> None:
        assert self.bench.meter is not None
        self.before = getattr(self.bench.meter._local, "role", None)
        self.bench.meter._local.role = self.role

    def __exit__(self, *exc: object) -> None:
        assert self.bench.meter is not None
        self.bench.meter._local.role = self.before


class Measured:
    """``with bench.measure() as m: ...`` then ``m.summary(units)``: only what ran inside counts."""

    def __init__(self, bench: Bench):
        self.bench = bench

    def __enter__(self) -> "Measured":
        assert self.bench.meter is not None
        self.bench.meter.reset()
        self.api_before = self.bench.api_requests
        self.started = time.perf_counter()
        self.bench.meter.active = True
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.bench.meter is not None
        self.bench.meter.active = False
        self.seconds = time.perf_counter() - self.started
        self.api_requests = self.bench.api_requests - self.api_before

    def summary(self, units: int) -> dict[str, Any]:
        assert self.bench.meter is not None
        return self.bench.meter.summary(units, self.seconds, self.api_requests)
