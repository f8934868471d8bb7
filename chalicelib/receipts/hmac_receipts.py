"""HMAC-SHA256 signatures of JSON receipts (webhook and sandbox providers), verified here.

The provider signs ``"<timestamp>.<body>"`` with the shared secret and sends
``X-MA-Timestamp: <unix seconds>`` and ``X-MA-Signature: v1=<hex>`` (several ``v1=``
values, comma-separated, are accepted while a secret rotates). A timestamp more than
``WINDOW_SECONDS`` from now, in either direction, is refused, so a captured request cannot
be replayed later. (The webhook adapter's own ``providers.signing`` does the same for
what we send; the two are to be unified.)
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from chalicelib.providers.base import CallbackRejected

WINDOW_SECONDS = 300
TIMESTAMP_HEADER = "x-ma-timestamp"
SIGNATURE_HEADER = "x-ma-signature"


def sign_receipt_body(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-MA-Signature`` value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def signed_headers(secret: str, body: bytes, now: datetime) -> dict[str, str]:
    """The two headers a signed receipts request carries."""
    timestamp = int(now.timestamp())
    return {"X-MA-Timestamp": str(timestamp), "X-MA-Signature": sign_receipt_body(secret, timestamp, body)}


def verify_receipt_signature(secret: str, headers: Mapping[str, str], body: bytes, now: datetime) -> None:
    """Raise ``CallbackRejected`` unless the body is signed with ``secret`` within the window."""
    raw_timestamp = headers.get(TIMESTAMP_HEADER, "")
    raw_signature = headers.get(SIGNATURE_HEADER, "")
    if not raw_timestamp or not raw_signature:
        raise CallbackRejected("the request is not signed (X-MA-Timestamp and X-MA-Signature are required)")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise CallbackRejected("X-MA-Timestamp is not a Unix time in seconds") from None
    if abs(now.timestamp() - timestamp) > WINDOW_SECONDS:
        raise CallbackRejected(f"X-MA-Timestamp is more than {WINDOW_SECONDS} seconds from now; "
                               "sign each request when sending it")
    expected = sign_receipt_body(secret, timestamp, body)
    given = [part.strip() for part in raw_signature.split(",") if part.strip().startswith("v1=")]
    if not any(hmac.compare_digest(expected, candidate) for candidate in given):
        raise CallbackRejected("the signature does not match the body and timestamp")
