"""API keys: ``mak.<workspace_id>.<key_id>.<secret>``, stored as a SHA-256 of the secret.

The token names its workspace and key, so authenticating is one GetItem on the
workspace's own partition; the secret is 256 random bits, so a plain hash is enough.
"""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib import clock, dynamo, ids, pagination
from chalicelib.errors import Conflict, NotFound, Unavailable
from chalicelib.schemas import PageQuery
from chalicelib.tenancy import repo
from chalicelib.tenancy.repo import AdminKeyWrite, KeyRecord
from chalicelib.tenancy.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, Role

TOKEN_PREFIX = "mak"
MAX_TRIES = 6


@dataclass(frozen=True)
class Token:
    workspace_id: str
    key_id: str
    secret: str

    def __str__(self) -> str:
        return f"{TOKEN_PREFIX}.{self.workspace_id}.{self.key_id}.{self.secret}"


def parse_token(raw: str) -> Token | None:
    parts = raw.split(".")
    if len(parts) != 4 or parts[0] != TOKEN_PREFIX or not all(parts[1:]):
        return None
    return Token(parts[1], parts[2], parts[3])


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def new_key_item(workspace_id: str, request: ApiKeyCreate, now: datetime) -> tuple[KeyRecord, Token]:
    """A key record and its token; key ids sort by creation time, so keys list in that order."""
    token = Token(workspace_id, ids.ordered_id("key", now), ids.new_secret())
    key = KeyRecord(
        workspace_id=workspace_id, key_id=token.key_id, name=request.name, role=request.role.value,
        secret_hash=hash_secret(token.secret), hint=token.secret[-4:], created_at=clock.iso(now),
    )
    return key, token


def to_api(key: KeyRecord) -> ApiKey:
    return ApiKey(id=key.key_id, name=key.name, role=Role(key.role), hint=key.hint, created_at=key.created_at)


def created(key: KeyRecord, token: Token) -> ApiKeyCreated:
    return ApiKeyCreated(**to_api(key).model_dump(), secret=str(token))


def create(workspace_id: str, request: ApiKeyCreate, now: datetime) -> ApiKeyCreated:
    """Create a key; the secret is in the answer and nowhere else. Admin keys are counted
    on the workspace in the same transaction."""
    key, token = new_key_item(workspace_id, request, now)
    if request.role != Role.admin:
        repo.put_key(key)
        return created(key, token)
    for attempt in range(MAX_TRIES):
        outcome = repo.put_admin_key(key)
        if outcome == AdminKeyWrite.DONE:
            return created(key, token)
        if outcome == AdminKeyWrite.UNCOUNTED:
            _count_admin_keys(workspace_id)
        else:
            dynamo.backoff(attempt)
    raise _busy()


def lookup(token: Token) -> KeyRecord | None:
    key = repo.get_key(token.workspace_id, token.key_id)
    return key if key is not None and secret_matches(token.secret, key.secret_hash) else None


def list_page(workspace_id: str, query: PageQuery) -> dict[str, Any]:
    """The workspace's keys, oldest first."""
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    page = repo.list_keys(workspace_id, query.limit, start)
    return {"items": [to_api(k) for k in page.items], "next_cursor": pagination.encode(page.last_key)}


def delete(workspace_id: str, key_id: str) -> None:
    """Revoke a key at once; the last admin key is kept so the workspace stays reachable
    (a condition on the workspace's admin-key count, so two concurrent deletes cannot
    both pass)."""
    key = repo.get_key(workspace_id, key_id)
    if key is None:
        raise NotFound(f"no API key {key_id}")
    if key.role != Role.admin.value:
        if not repo.delete_key(workspace_id, key_id):
            raise NotFound(f"no API key {key_id}")
        return
    for attempt in range(MAX_TRIES):
        outcome = repo.delete_admin_key(workspace_id, key_id)
        if outcome == AdminKeyWrite.DONE:
            return
        if outcome == AdminKeyWrite.KEY_GONE:
            raise NotFound(f"no API key {key_id}")
        if outcome == AdminKeyWrite.LAST and not _count_admin_keys(workspace_id):
            raise Conflict("invalid_state", "this is the workspace's last admin key; create another admin key first")
        if outcome == AdminKeyWrite.CONFLICT:
            dynamo.backoff(attempt)
    raise _busy()


def admin_count(keys: Iterable[KeyRecord]) -> int:
    return sum(1 for k in keys if k.role == Role.admin.value)


def _count_admin_keys(workspace_id: str) -> bool:
    """Give a workspace made before admin keys were counted its count, once. False when
    it is counted already (the count is right and nothing changed)."""
    workspace = repo.get_workspace(workspace_id, consistent=True)
    if workspace is None:
        raise NotFound(f"no workspace {workspace_id}")
    if workspace.admin_keys is not None:
        return False
    repo.count_admin_keys_once(workspace_id, admin_count(repo.list_keys(workspace_id).items))
    return True


def _busy() -> Unavailable:
    return Unavailable("API keys of this workspace are being changed concurrently; try again", retry_after=1)
