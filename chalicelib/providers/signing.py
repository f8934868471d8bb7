"""The signature of our webhooks and of the receipts posted back to us: HMAC-SHA256.

``X-MA-Timestamp: <unix seconds>`` and ``X-MA-Signature: v1=<hex>``, where the hex is
HMAC-SHA256 with the shared signing secret over ``"<timestamp>.<body>"`` (the body's
exact bytes). Signing the timestamp with the body lets a receiver refuse replays: a
signature is accepted only within a window around its timestamp. The one definition,
used by the webhook adapter, the receipts route and the tests.
"""
from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

SCHEME = "v1"
TIMESTAMP_HEADER = "X-MA-Timestamp"
SIGNATURE_HEADER = "X-MA-Signature"
DEFAULT_WINDOW_SECONDS = 300


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sign(secret: str | bytes, timestamp: int | str, body: str | bytes) -> str:
    """The ``X-MA-Signature`` value for a body sent at ``timestamp`` (unix seconds)."""
    digest = hmac.new(_bytes(secret), _bytes(str(timestamp)) + b"." + _bytes(body), hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def verify(secret: str | bytes, timestamp: int | str | None, body: str | bytes, signature: str | None,
           now: datetime, window_seconds: int = DEFAULT_WINDOW_SECONDS) -> bool:
    """True when ``signature`` signs ``body`` at ``timestamp`` with ``secret`` and the
    timestamp is within ``window_seconds`` of ``now`` (either side: clocks differ).

    ``signature`` may list several comma-separated ``v1=`` values (a secret being
    rotated); one match is enough. Compared in constant time."""
    if not timestamp or not signature:
        return False
    stamp = str(timestamp).strip()
    try:
        sent = int(stamp)
    except ValueError:
        return False
    if abs(now.timestamp() - sent) > window_seconds:
        return False
    expected = sign(secret, stamp, body)
    matched = False
    for candidate in signature.split(","):
        # every candidate is compared, so the time taken does not say which one matched
        matched |= hmac.compare_digest(candidate.strip().encode(), expected.encode())
    return matched
