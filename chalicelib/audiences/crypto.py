"""Encrypted ids in uploaded lists, and the workspace's audience key.

The scheme (one, documented for clients): AES-256-GCM with the workspace's 32-byte key,
a fresh random 12-byte nonce per id, no associated data; a cell is the standard base64
(padding optional, URL-safe alphabet accepted) of ``nonce || ciphertext || 16-byte tag``,
and the plaintext is the UTF-8 phone or email. In Python::

    nonce = os.urandom(12)
    cell = base64.b64encode(nonce + AESGCM(key).encrypt(nonce, email.encode(), None))

The key lives in Secrets Manager (``marketing-automation/<stage>/<workspace_id>/audience-key``,
the base64 of the 32 bytes); a build reads it once. After a rotation the previous
version (``AWSPREVIOUS``) still decrypts, so lists encrypted just before the rotation
build. Plaintexts exist only in the build's memory, on their way to the index lookup:
they are never stored, logged or put in an error.
"""
from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Callable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from chalicelib import aws
from chalicelib.config import settings

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_CELL = 1024  # base64 of a 254-character email and its nonce and tag is far less


def secret_id(workspace_id: str) -> str:
    return f"marketing-automation/{settings.stage}/{workspace_id}/audience-key"


def new_key() -> bytes:
    return os.urandom(KEY_BYTES)


def parse_key(text: str) -> bytes | None:
    """The 32 key bytes from their base64, or None when it is not that."""
    raw = _b64(text)
    return raw if raw is not None and len(raw) == KEY_BYTES else None


def _b64(text: str) -> bytes | None:
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    try:
        return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def encrypt(key: bytes, plaintext: str, nonce: bytes | None = None) -> str:
    """One cell of an encrypted list (clients do this; tests and tools use it)."""
    nonce = nonce or os.urandom(NONCE_BYTES)
    return base64.b64encode(nonce + AESGCM(key).encrypt(nonce, plaintext.encode("utf-8"), None)).decode("ascii")


def decrypt(keys: Sequence[bytes], cell: str) -> str | None:
    """The plaintext of a cell under the first key that opens it, or None (not base64,
    too short, wrong key, tampered, not UTF-8)."""
    if len(cell) > MAX_CELL:
        return None
    raw = _b64(cell)
    if raw is None or len(raw) < NONCE_BYTES + TAG_BYTES + 1:
        return None
    for key in keys:
        try:
            return AESGCM(key).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], None).decode("utf-8")
        except (InvalidTag, UnicodeDecodeError):
            continue
    return None


def decryptor(keys: Sequence[bytes]) -> Callable[[str], str | None]:
    return lambda cell: decrypt(keys, cell)


# --- Secrets Manager ------------------------------------------------------------------------

def store_key(workspace_id: str, key: bytes) -> None:
    """Set or rotate the workspace's key (a new secret version; the old one becomes AWSPREVIOUS)."""
    client, sid = aws.secretsmanager(), secret_id(workspace_id)
    body = base64.b64encode(key).decode("ascii")
    try:
        client.put_secret_value(SecretId=sid, SecretString=body)
    except client.exceptions.ResourceNotFoundException:
        client.create_secret(Name=sid, SecretString=body,
                             Description="AES-256-GCM key of encrypted audience id lists (marketing automation)")


def read_keys(workspace_id: str) -> list[bytes]:
    """The current key and, after a rotation, the previous one; [] when none is set."""
    client, sid = aws.secretsmanager(), secret_id(workspace_id)
    found: list[bytes] = []
    for stage in ("AWSCURRENT", "AWSPREVIOUS"):
        try:
            text = client.get_secret_value(SecretId=sid, VersionStage=stage)["SecretString"]
        except (client.exceptions.ResourceNotFoundException, client.exceptions.InvalidRequestException):
            continue
        key = parse_key(str(text))
        if key is not None and key not in found:
            found.append(key)
    return found
