"""The benchmark still runs (small), so it cannot rot; it asserts its own invariants."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_events_benchmark_runs_and_counts_requests(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "bench/events_throughput.py", "--skip-stack", "--events", "300", "--users", "50",
         "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())["in_process"]
    first, duplicate = report["first"], report["duplicate"]
    # Request and unit counts are stable, so they are guarded here (never wall-clock time).
    assert first["requests_per_event"]["http"] == 0.01   # 300 events in one POST: GetItem, Query, SendMessageBatch
    # One conditional PutItem per aggregate and per new profile, batches for the rest.
    assert first["requests_per_event"]["handler"] < 1.5
    assert "handler:dynamodb.TransactWriteItems" not in first["calls"]
    assert first["units_per_event"]["dynamodb_wru_handler"] <= 3.0  # issue 11's target, all in
    assert first["handler_wru_per_event_by_kind"]["events"] == 1.0  # no index on the events table
    assert duplicate["units_per_event"]["dynamodb_wru_handler"] == 0  # duplicates write nothing
    assert not [k for k in duplicate["calls"] if k.startswith("handler:") and "Write" in k or k.endswith("PutItem")]
    assert first["cost_per_million_events_usd_total"] > 0


def test_make_bench_runs_every_scenario_at_a_tiny_size_with_the_stable_keys(tmp_path):
    """`python -m bench --tiny`: the local stack in process, every scenario, the pinned JSON keys."""
    out = tmp_path / "latest.json"
    result = subprocess.run([sys.executable, "-m", "bench", "--tiny", "--baseline", "naive", "--no-progress",
                             "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["cpu_count"] >= 1 and len(report["git_commit"]) in (40, 7) or report["git_commit"] == "unknown"
    from bench.scenarios import load

    assert set(report["scenario"]) == set(load())
    for name, scenario in report["scenario"].items():
        for key in ("per_second", "requests_per_unit", "wru_per_unit", "rru_per_unit", "cost_per_million_usd"):
            assert key in scenario, (name, key)
        assert scenario["requests_per_unit"] > 0 and scenario["cost_per_million_usd"] > 0, name
    assert report["scenario"]["events"]["wru_per_unit"] <= 3.0      # issue 11's target
    assert "| events | event |" in result.stdout
    # The task reconciles with everyone sent; the journey's counts agree node by node (the
    # scenarios assert it and report what they checked); the trigger reports its latency.
    task, journey, trigger = (report["scenario"][name] for name in ("task", "journey", "trigger"))
    assert task["reconciliation"] == {"targeted": 50, "sent": 50, "dropped": 0, "failed": 0, "pending": 0}
    assert journey["users"] == 30 and journey["user_steps"] == 6 * 30 + journey["yes"]
    assert journey["yes"] + journey["no"] == 30
    assert trigger["units"] == 10 and 0 < trigger["p50_ms"] <= trigger["p95_ms"]
    for name in ("task", "journey"):  # --baseline naive: its numbers beside ours, and the ratio of costs
        baseline = report["scenario"][name]["baseline"]
        assert baseline["name"] == "naive" and "not product code" in baseline["design"]
        assert baseline["wru_per_unit"] == 1.0 and baseline["sqs_requests_per_unit"] == 3.0
        assert report["scenario"][name]["baseline_ratio"] == round(
            baseline["cost_per_million_usd"] / report["scenario"][name]["cost_per_million_usd"], 2)


def test_the_journey_benchmark_runs_and_keeps_cohort_steps_under_the_write_target(tmp_path):
    out = tmp_path / "journey.json"
    result = subprocess.run([sys.executable, "bench/journey_steps.py", "--users", "1500", "--baseline-steps", "50",
                             "--json", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["user_steps"] == 5 * 1500
    assert report["cohorts"]["wru_per_unit"] <= 0.05  # issue 15's target for non-send nodes
    assert report["naive_baseline"]["wru_per_unit"] == 1.0 and report["naive_baseline"]["sqs_requests_per_unit"] == 3.0


def test_the_trigger_latency_percentiles_are_nearest_rank():
    from bench.scenarios.trigger import percentile

    latencies = [float(ms) for ms in range(1, 101)]  # 1..100 ms
    assert (percentile(latencies, 50), percentile(latencies, 95), percentile([7.0], 95)) == (50.0, 95.0, 7.0)
