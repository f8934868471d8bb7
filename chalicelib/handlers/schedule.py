"""The one-minute schedule: runs the due work of the due-work index (chalicelib/scheduling).

Each kind's handler registers on import; the modules that hold them are imported here.
"""
from __future__ import annotations

from typing import Any

from chalicelib import clock, logs
from chalicelib.audiences import refresh as _audience_refresh  # noqa: F401 - registers "audience_refresh"
from chalicelib.journeys import generated as _journey_generated  # noqa: F401 - "journey_generate"
from chalicelib.journeys import lifecycle as _journey_lifecycle  # noqa: F401 - "journey_start", "journey_end"
from chalicelib.journeys import runtime as _journey_runtime  # noqa: F401 - registers "journey_cohort"
from chalicelib.tasks import service as _tasks  # noqa: F401 - registers "task_start", "task_check"
from chalicelib.chat import runs as _chat_runs  # noqa: F401 - registers "chat_run"
from chalicelib.scheduling import dispatch


def handle(event: Any = None, context: Any = None) -> dict[str, Any]:
    logs.clear()
    ran = dispatch.run_due(clock.now())
    if ran:
        logs.logger.info("due work ran", extra={"count": len(ran), "kinds": sorted({d.kind for d in ran})})
    return {"ran": len(ran)}
