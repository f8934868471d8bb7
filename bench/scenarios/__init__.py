"""Benchmark scenarios: each measures one unit of work end to end on the metered local stack.

A scenario is a function ``run(bench, size, seed, progress) -> dict`` registered with its
unit, its default size (under 10 minutes on 2 cores) and the tiny size the test suite
runs so the benchmark cannot rot. A scenario with ``baselines`` also takes
``baseline=`` (None, or "naive" for ``--baseline naive``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


@dataclass(frozen=True)
class Scenario:
    name: str
    unit: str
    default_size: int
    tiny_size: int
    run: Callable[..., dict[str, Any]]
    baselines: tuple[str, ...] = ()


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, unit: str, default_size: int, tiny_size: int, baselines: tuple[str, ...] = ()) -> Callable[..., Any]:
    def register(run: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
        SCENARIOS[name] = Scenario(name, unit, default_size, tiny_size, run, baselines)
        return run
    return register


# The report order, which is also the run order: ``receipts`` posts the sandbox receipts that
# ``send`` planned, so both run before the scenarios that hold receipts back for the rest
# of the run (``Bench.hold_receipts``). Fixed here, not by which module happens to be
# imported first.
ORDER = ("events", "audience", "send", "receipts", "task", "journey", "trigger")


def load() -> dict[str, Scenario]:
    from bench.scenarios import audience, events, journey, send, task, trigger  # noqa: F401 - registers them

    assert set(SCENARIOS) == set(ORDER), sorted(set(SCENARIOS) ^ set(ORDER))
    return {name: SCENARIOS[name] for name in ORDER}
