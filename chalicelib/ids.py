"""Server-generated ids: a short type prefix and 16 lowercase base32 characters (80 bits).

``new_id`` is 80 random bits. ``ordered_id`` starts with the creation time (48 bits of
milliseconds, as in a ULID) and ends with 32 random bits, in an alphabet whose ASCII
order is its numeric order (Crockford's base32), so ids of one type sort as they were
made: a Query on a sort key holding them lists in creation order.
"""
from __future__ import annotations

import base64
import secrets
import threading
from datetime import datetime

ORDERED_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, ascending in ASCII
_RANDOM_BITS = 32
_last = (0, 0)  # (milliseconds, random part) of the newest ordered id made in this process
_lock = threading.Lock()


def new_id(prefix: str) -> str:
    return prefix + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def ordered_id(prefix: str, now: datetime) -> str:
    """An id that sorts after every ordered id this process made before (same prefix)."""
    global _last
    millis = max(0, int(now.timestamp() * 1000))
    with _lock:
        last_millis, last_random = _last
        if millis <= last_millis:  # same millisecond, or a clock that stepped back: count on
            millis, random_part = last_millis, last_random + 1
            if random_part >> _RANDOM_BITS:
                millis, random_part = millis + 1, secrets.randbits(_RANDOM_BITS - 1)
        else:
            random_part = secrets.randbits(_RANDOM_BITS - 1)  # leaves room to count on
        _last = (millis, random_part)
    return prefix + _encode((millis << _RANDOM_BITS) | random_part, 16)


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        chars.append(ORDERED_ALPHABET[number & 31])
        number >>= 5
    return "".join(reversed(chars))


def new_secret() -> str:
    return secrets.token_urlsafe(32)
