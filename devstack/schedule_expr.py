"""EventBridge schedule expressions: ``rate(N unit)`` and ``cron(min hour dom month dow year)``.

Enough of the AWS syntax to fire ``@app.schedule`` functions locally. Cron bodies are read
and evaluated (in UTC, as EventBridge rules are) by the shipped ``chalicelib.scheduling.cron``,
which journeys' periodic triggers use too: one evaluator, not two.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.scheduling import cron
from chalicelib.scheduling.cron import Cron

_UNITS = {"minute": 60, "minutes": 60, "hour": 3600, "hours": 3600, "day": 86400, "days": 86400}


@dataclass(frozen=True)
class Rate:
    seconds: int

    def next_after(self, moment: datetime, anchor: datetime) -> datetime:
        elapsed = (moment - anchor).total_seconds()
        periods = int(elapsed // self.seconds) + 1 if elapsed >= 0 else 0
        return anchor + timedelta(seconds=periods * self.seconds)


def parse(expression: str) -> Rate | Cron:
    match = re.fullmatch(r"rate\((\d+)\s+(\w+)\)", expression.strip())
    if match:
        n, unit = int(match.group(1)), match.group(2)
        if unit not in _UNITS or n < 1:
            raise ValueError(f"bad rate expression {expression!r}")
        return Rate(n * _UNITS[unit])
    match = re.fullmatch(r"cron\((.+)\)", expression.strip())
    if not match:
        raise ValueError(f"not a schedule expression: {expression!r}")
    return cron.parse(match.group(1))


__all__ = ["Cron", "Rate", "parse"]
