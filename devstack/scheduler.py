"""Fire the app's ``@app.schedule`` functions on their rate or cron, on the injected clock.

When the clock jumps (``POST /_local/clock``) past several periods, a schedule fires
once for the jump, at the new time: the handlers look at "now" and do whatever became
due, as they would after a delayed EventBridge invocation.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from chalice import Chalice
from chalice.app import ScheduledEventConfig

from chalicelib import logs
from chalicelib.config import settings
from devstack import schedule_expr
from devstack.lambda_shapes import FakeContext, scheduled_event


@dataclass
class Entry:
    name: str
    expression: str
    schedule: schedule_expr.Rate | schedule_expr.Cron
    next_due: datetime


class Scheduler:
    def __init__(self, app: Chalice, now: Callable[[], datetime]):
        self.app = app
        self.now = now
        self._lock = threading.Lock()
        start = now()
        self.anchor = start
        self.entries: list[Entry] = []
        for source in app.event_sources:
            if isinstance(source, ScheduledEventConfig):
                expr = source.schedule_expression
                text = expr if isinstance(expr, str) else expr.to_string()
                parsed = schedule_expr.parse(text)
                self.entries.append(Entry(source.name, text, parsed, parsed.next_after(start, start)))

    def run_due(self) -> list[str]:
        """Invoke every schedule whose time has come; returns the names fired."""
        fired = []
        with self._lock:
            moment = self.now()
            for entry in self.entries:
                if entry.next_due <= moment:
                    self._invoke(entry, moment)
                    entry.next_due = entry.schedule.next_after(moment, self.anchor)
                    fired.append(entry.name)
        return fired

    def _invoke(self, entry: Entry, moment: datetime) -> None:
        event = scheduled_event(entry.name, moment, settings.region)
        try:
            self.app.handler_map[entry.name](event, FakeContext(entry.name))
        except Exception:  # noqa: BLE001 - EventBridge retries; locally we log and go on
            logs.logger.exception("scheduled function raised", extra={"schedule": entry.name})

    def loop(self, stop: threading.Event, tick_seconds: float = 1.0) -> None:
        while not stop.wait(tick_seconds):
            self.run_due()
