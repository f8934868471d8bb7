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
    # Request counts are stable: batching keeps them far below one per event.
    assert first["requests_per_event"]["http"] == 0.01   # 300 events in one POST: GetItem, Query, SendMessageBatch
    assert first["requests_per_event"]["handler"] < 0.1
    assert first["calls"]["handler:dynamodb.TransactWriteItems"] >= 1
    assert "handler:dynamodb.TransactWriteItems" not in duplicate["calls"]  # duplicates write nothing
    assert first["cost_per_million_events_usd_total"] > 0
