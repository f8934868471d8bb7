"""Signed unsubscribe links and the RFC 8058 one-click headers.

A token names what it unsubscribes (workspace, channel, address, user) and carries an
HMAC-SHA256 over exactly that, under a per-deployment key, so the public route needs no
lookup to trust it and nobody can forge a link for another address. The names are
encoded, not encrypted: the link shows the address it was sent to, as the message does.

    token = "v1." + base64url(JSON [workspace, channel, address, user]) + "." + base64url(mac)

The key comes from ``MA_UNSUBSCRIBE_KEY`` (local) or the secret
``marketing-automation/<stage>/unsubscribe-key``, read when a link is first made or
checked. Rotating it invalidates every link already sent.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from functools import lru_cache

from chalicelib import aws
from chalicelib.config import settings

VERSION = "v1"
ONE_CLICK = "List-Unsubscribe=One-Click"
MAX_TOKEN = 2048


@dataclass(frozen=True)
class Subscription:
    """What one unsubscribe link stands for."""

    workspace_id: str
    channel: str
    address: str
    user_id: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, f"{VERSION}.{payload}".encode(), hashlib.sha256).digest()


def sign(subscription: Subscription, key: bytes) -> str:
    """The URL-safe token for ``subscription`` (letters, digits, ``-``, ``_`` and dots)."""
    fields = [subscription.workspace_id, subscription.channel, subscription.address, subscription.user_id]
    payload = _b64(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode())
    return f"{VERSION}.{payload}.{_b64(_mac(key, payload))}"


def verify(token: str, key: bytes) -> Subscription | None:
    """The subscription a genuine token stands for; None for anything else (never why)."""
    if len(token) > MAX_TOKEN or token.count(".") != 2:
        return None
    version, payload, mac = token.split(".")
    if version != VERSION:
        return None
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        return None
    if _b64(given) != mac or not hmac.compare_digest(given, _mac(key, payload)):  # one spelling per token
        return None
    try:
        fields = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        return None
    if not (isinstance(fields, list) and len(fields) == 4 and all(isinstance(f, str) and f for f in fields)):
        return None
    return Subscription(*fields)


def link(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/u/{token}"


def email_headers(url: str) -> dict[str, str]:
    """RFC 8058 one-click unsubscribe: the mail client POSTs ``List-Unsubscribe=One-Click``
    to the https URL (the message must also carry a DKIM signature covering both headers)."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": ONE_CLICK}


# --- the deployment's key (I/O, read when first used) -------------------------------------------

@lru_cache(maxsize=1)
def signing_key() -> bytes:
    """``MA_UNSUBSCRIBE_KEY``, else the deployment's secret. On the local stack and in
    tests a missing secret is made once (in moto's Secrets Manager), so every process of
    the stack signs with the same key; in the cloud a missing secret is an error."""
    if settings.unsubscribe_key:
        return settings.unsubscribe_key.encode()
    client = aws.secretsmanager()
    name = settings.unsubscribe_key_secret_id
    try:
        return str(client.get_secret_value(SecretId=name)["SecretString"]).strip().encode()
    except client.exceptions.ResourceNotFoundException:
        if settings.stage not in ("local", "test"):
            raise
    try:
        client.create_secret(Name=name, SecretString=secrets.token_urlsafe(32))
    except client.exceptions.ResourceExistsException:
        pass  # another process of the stack made it first
    return str(client.get_secret_value(SecretId=name)["SecretString"]).strip().encode()


def link_for(subscription: Subscription) -> str:
    """The public unsubscribe link for a message (the sender puts it in the message and,
    for email, in ``email_headers``)."""
    return link(settings.public_base_url, sign(subscription, signing_key()))
