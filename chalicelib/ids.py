"""Server-generated ids: a short type prefix and 16 lowercase base32 characters (80 bits)."""
from __future__ import annotations

import base64
import secrets


def new_id(prefix: str) -> str:
    return prefix + base64.b32encode(secrets.token_bytes(10)).decode().lower()


def new_secret() -> str:
    return secrets.token_urlsafe(32)
