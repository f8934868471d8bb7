"""Provider credentials for verifying callbacks, cached per process for a minute.

A receipts request would otherwise read Secrets Manager each time ($0.05 per 10,000
calls: more than everything else a receipt costs). A rotated secret is seen within
``CACHE_SECONDS``; the old one keeps verifying until then.
"""
from __future__ import annotations

import threading
import time
from typing import Any

from botocore.exceptions import ClientError

from chalicelib.providers.base import Provider

CACHE_SECONDS = 60.0
_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def credentials(provider: Provider) -> dict[str, Any]:
    """The provider's credentials (never log them)."""
    sid = provider.config.secret_id()
    with _lock:
        hit = _cache.get(sid)
    if hit and time.monotonic() - hit[0] < CACHE_SECONDS:
        return hit[1]
    try:
        value = provider.config.credentials()
    except ClientError as error:  # a missing secret is "no credentials": the parser says which one is needed
        if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
            raise
        value = {}
    with _lock:
        _cache[sid] = (time.monotonic(), value)
    return value


def forget() -> None:
    """Empty the cache (tests)."""
    with _lock:
        _cache.clear()
