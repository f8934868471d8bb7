"""Opaque list cursors: DynamoDB's LastEvaluatedKey, base64url JSON, checked on the way back
so a cursor from another partition (or another workspace) is a 400, never a foreign read."""
from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from chalicelib.errors import Invalid

MAX_CURSOR = 2048


def encode(last_evaluated_key: dict[str, Any] | None) -> str | None:
    if not last_evaluated_key:
        return None
    raw = json.dumps(last_evaluated_key, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, *, attribute: str, expected: str) -> dict[str, Any] | None:
    """The start key, if the cursor's ``attribute`` equals ``expected`` (the caller's partition)."""
    if not cursor:
        return None
    if len(cursor) > MAX_CURSOR:
        raise Invalid("cursor", "not a cursor this API returned")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Invalid("cursor", "not a cursor this API returned") from None
    valid = (
        isinstance(key, dict)
        and all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in key.values())
        and key.get(attribute, {}).get("S") == expected
    )
    if not valid:
        raise Invalid("cursor", "not a cursor this API returned for this list")
    return key


def page(result: Any, shape: Callable[[Any], Any]) -> dict[str, Any]:
    """A list answer from a PynamoDB result iterator: shaped items and the next cursor."""
    items = [shape(item) for item in result]
    return {"items": items, "next_cursor": encode(result.last_evaluated_key)}
