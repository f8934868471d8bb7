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


def load() -> dict[str, Scenario]:
    from bench.scenarios import events, audience, send, task, journey, trigger  # noqa: F401,I001 - registers them, in report order

    return SCENARIOS
