"""Structured JSON logs (Powertools Logger) with request and workspace ids.

Nothing secret goes into a log record: API keys and provider credentials are never
passed to the logger, and the Authorization header is never logged.
"""
from __future__ import annotations

from aws_lambda_powertools import Logger

from chalicelib.config import settings

logger = Logger(service="marketing-automation", level=settings.log_level)


def bind(**keys: object) -> None:
    """Attach keys (request_id, workspace_id) to every record of this thread's request."""
    logger.thread_safe_append_keys(**keys)


def clear() -> None:
    logger.thread_safe_clear_keys()
