"""Every minute: the sandbox provider posts the receipts that became due (``receipts.sandbox_poster``)."""
from __future__ import annotations

from typing import Any

from chalicelib import clock, logs
from chalicelib.receipts import sandbox_poster


def handle(event: dict[str, Any], context: Any = None) -> None:
    logs.clear()
    counts = sandbox_poster.post_due(clock.now())
    if counts:
        logs.logger.info("sandbox receipts", extra=dict(counts))
