"""API keys: ``mak.<workspace_id>.<key_id>.<secret>``, stored as a SHA-256 of the secret.

The token names its workspace and key, so authenticating is one GetItem on the
workspace's own partition; the secret is 256 random bits, so a plain hash is enough.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import clock, ids, pagination
from chalicelib.errors import Conflict, NotFound
from chalicelib.models.workspaces import KEY_PREFIX, ApiKeyItem
from chalicelib.schemas import PageQuery
from chalicelib.tenancy.schemas import ApiKey, ApiKeyCreate, ApiKeyCreated, Role

TOKEN_PREFIX = "mak"


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


def new_key_item(workspace_id: str, request: ApiKeyCreate, now: datetime) -> tuple[ApiKeyItem, Token]:
    token = Token(workspace_id, ids.new_id("key"), ids.new_secret())
    item = ApiKeyItem(
        pk=workspace_id,
        sk=KEY_PREFIX + token.key_id,
        key_id=token.key_id,
        name=request.name,
        role=request.role.value,
        secret_hash=hash_secret(token.secret),
        hint=token.secret[-4:],
        created_at=clock.iso(now),
    )
    return item, token


def to_api(item: ApiKeyItem) -> ApiKey:
    return ApiKey(id=item.key_id, name=item.name, role=Role(item.role), hint=item.hint, created_at=item.created_at)


def created(item: ApiKeyItem, token: Token) -> ApiKeyCreated:
    return ApiKeyCreated(**to_api(item).model_dump(), secret=str(token))


def create(workspace_id: str, request: ApiKeyCreate, now: datetime) -> ApiKeyCreated:
    """Create a key; the secret is in the answer and nowhere else."""
    item, token = new_key_item(workspace_id, request, now)
    item.save(condition=ApiKeyItem.pk.does_not_exist())
    return created(item, token)


def lookup(token: Token) -> ApiKeyItem | None:
    try:
        item = ApiKeyItem.get(token.workspace_id, KEY_PREFIX + token.key_id, consistent_read=True)
    except DoesNotExist:
        return None
    return item if secret_matches(token.secret, item.secret_hash) else None


def list_page(workspace_id: str, query: PageQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    result = ApiKeyItem.query(workspace_id, ApiKeyItem.sk.startswith(KEY_PREFIX), limit=query.limit,
                              last_evaluated_key=start)
    return pagination.page(result, to_api)


def delete(workspace_id: str, key_id: str) -> None:
    """Revoke a key at once; the last admin key is kept so the workspace stays reachable."""
    keys = list(ApiKeyItem.query(workspace_id, ApiKeyItem.sk.startswith(KEY_PREFIX)))
    target = next((k for k in keys if k.key_id == key_id), None)
    if target is None:
        raise NotFound(f"no API key {key_id}")
    admins = [k for k in keys if k.role == Role.admin.value]
    if target.role == Role.admin.value and len(admins) == 1:
        raise Conflict("invalid_state", "this is the workspace's last admin key; create another admin key first")
    target.delete()
