"""Per-user, per-event-name aggregates: count, first and last time, sums of numeric properties.

Pure functions. ``fold`` is order-independent and associative, so batches may arrive in
any order or be split anywhere and the stored aggregate is the same. (Only the first
MAX_SUMMED_PROPERTIES numeric property names of an event name are summed; past that,
which ones depends on arrival order.)
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from chalicelib import storable

MAX_SUMMED_PROPERTIES = 20


@dataclass(frozen=True)
class Stat:
    count: int
    first_at: str
    last_at: str
    sums: dict[str, float] = field(default_factory=dict)


def _numeric(properties: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in properties.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _add(a: float, b: float) -> float:
    # Decimal sums keep money exact (0.1 + 0.2 == 0.3) before the float DynamoDB round trip.
    total = Decimal(str(a)) + Decimal(str(b))
    return int(total) if total == total.to_integral_value() else float(total)


def fold(stat: Stat | None, events: Iterable[tuple[str, Mapping[str, Any]]]) -> Stat | None:
    """Add events (timestamp, properties) to an aggregate; ISO UTC timestamps compare as strings."""
    current = stat
    for ts, properties in events:
        if current is None:
            current = Stat(count=0, first_at=ts, last_at=ts, sums={})
        sums = dict(current.sums)
        for name, value in _numeric(properties).items():
            if name in sums or len(sums) < MAX_SUMMED_PROPERTIES:
                total = _add(sums.get(name, 0), value)
                # Beyond what DynamoDB stores (values near 1e125 added up, or 38 digits
                # exceeded): the sum stays where it was rather than poison the write.
                if storable.number_problem(total) is None:
                    sums[name] = total
        current = Stat(
            count=current.count + 1,
            first_at=min(current.first_at, ts),
            last_at=max(current.last_at, ts),
            sums=sums,
        )
    return current
