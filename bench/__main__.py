"""`make bench` / `python -m bench [SCENARIO ...] [--size N] [--tiny] [--out PATH]`.

Starts the local stack in this process (moto's server in a subprocess, the sandbox
provider), runs each scenario, writes bench/results/latest.json and prints a markdown
table. Numbers per unit of work are counted (requests, units) and stable; seconds and
per_second are moto-bound and only indicative.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LATEST = ROOT / "bench" / "results" / "latest.json"


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def table(results: dict[str, Any]) -> str:
    rows = ["| scenario | unit | size | per second (moto) | requests / unit | WRU / unit | RRU / unit | "
            "AWS $ / million units | naive ÷ ours |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, r in results["scenario"].items():
        ratio = r.get("baseline_ratio")
        rows.append(f"| {name} | {r['unit']} | {r['units']:,} | {r['per_second'] or '-'} | {r['requests_per_unit']} | "
                    f"{r['wru_per_unit']} | {r['rru_per_unit']} | {r['cost_per_million_usd']} | "
                    f"{ratio if ratio is not None else '-'} |")
    for name, r in results["scenario"].items():
        if "p50_ms" in r:
            rows.append(f"\n{name}: event to first send p50 {r['p50_ms']} ms, p95 {r['p95_ms']} ms "
                        f"(moto-bound, indicative)")
    return "\n".join(rows)


def write(path: Path, results: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(ROOT))
    from bench.scenarios import load

    scenarios = load()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", choices=[[], *scenarios], help="default: all")
    parser.add_argument("--size", type=int, help="units of work (default: each scenario's own)")
    parser.add_argument("--tiny", action="store_true", help="each scenario at its tiny size (the test suite's)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--baseline", choices=["naive"], help="also run the naive baseline where one exists")
    parser.add_argument("--out", type=Path, default=LATEST)
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    names = [name for name in scenarios if name in args.scenarios] or list(scenarios)  # always in report order

    from rich.progress import Progress

    from bench.harness import Bench

    bench = Bench().start()
    results: dict[str, Any] = {
        "generated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(), "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "seed": args.seed, "prices": json.loads((ROOT / "bench" / "prices.json").read_text()),
        "scenario": {},
    }
    try:
        with Progress(disable=args.no_progress, transient=True) as progress:
            for name in names:
                spec = scenarios[name]
                size = spec.tiny_size if args.tiny else (args.size or spec.default_size)
                extra = {"baseline": args.baseline} if spec.baselines else {}
                result = spec.run(bench, size, args.seed, progress, **extra)
                result = {"unit": spec.unit, **result}
                if args.baseline and spec.baselines:
                    result.setdefault("baseline_ratio", None)
                results["scenario"][name] = result
                write(args.out, results)  # after each scenario: a later failure keeps what was measured
    finally:
        bench.stop()
    write(args.out, results)
    print(table(results))
    print(f"\n{args.out} (commit {results['git_commit'][:10]}, {results['cpu_count']} cores)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
