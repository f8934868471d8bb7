"""Provider accounts through the API: put (create or replace), read, list, delete."""
from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from chalicelib import clock, dynamo, pagination
from chalicelib.errors import Invalid, NotFound
from chalicelib.schemas import PageQuery
from chalicelib.sending import repo_providers
from chalicelib.sending.providers_config import NAME, Provider, ProviderPut, ProviderRecord, to_api

MAX_TRIES = 5


def check_name(name: str) -> str:
    if not re.fullmatch(NAME, name):
        raise Invalid("name", "a provider name is 1-64 lowercase letters, digits, '_' or '-', "
                              "starting with a letter or digit")
    return name


def put(workspace_id: str, name: str, request: ProviderPut, now: datetime) -> Provider:
    """Create or replace the account's settings; given credentials go to Secrets Manager
    first (merged with the stored ones), then the settings are written conditioned on the
    version read."""
    check_name(name)
    request = with_generated_secrets(workspace_id, name, request)
    names: tuple[str, ...] | None = None
    if request.credentials:
        names = repo_providers.store_credentials(workspace_id, name, request.credentials)

    def decide(current: ProviderRecord | None) -> ProviderRecord:
        if current is not None and current.kind != request.kind and not request.credentials:
            raise Invalid("credentials", f"changing the kind from {current.kind} to {request.kind} needs its credentials")
        stamp = clock.iso(now)
        return ProviderRecord(
            name=name, channel=request.channel, kind=request.kind, settings=dict(request.settings),
            rate_limit=request.rate_limit, batch_size=request.batch_size, cost_per_message=request.cost_per_message,
            endpoint=request.endpoint,
            credential_names=names if names is not None else (current.credential_names if current else ()),
            created_at=current.created_at if current else stamp, updated_at=stamp,
            version=(current.version if current else 0) + 1,
        )

    return to_api(dynamo.read_decide_write(
        lambda: repo_providers.get(workspace_id, name), decide,
        lambda record, current: repo_providers.put(workspace_id, record, current),
        busy=f"provider {name}", tries=MAX_TRIES))


GENERATED = {"sandbox": "receipt_secret"}  # kind -> a secret we make when the account has none


def with_generated_secrets(workspace_id: str, name: str, request: ProviderPut) -> ProviderPut:
    """A sandbox account signs the receipts it posts with a secret of its own: made here
    (and stored with the credentials) the first time the account is put without one."""
    field = GENERATED.get(request.kind)
    if field is None or (request.credentials or {}).get(field):
        return request
    current = repo_providers.get(workspace_id, name)
    if current is not None and field in current.credential_names:
        return request
    return request.model_copy(update={"credentials": {**(request.credentials or {}), field: secrets.token_hex(32)}})


def get(workspace_id: str, name: str) -> Provider:
    found = repo_providers.get(workspace_id, check_name(name))
    if found is None:
        raise NotFound(f"no provider {name}")
    return to_api(found)


def list_page(workspace_id: str, query: PageQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    found, last = repo_providers.page(workspace_id, query.limit, start)
    return {"items": [to_api(r) for r in found], "next_cursor": pagination.encode(last)}


def delete(workspace_id: str, name: str) -> None:
    """Remove the account; its credentials are scheduled for deletion (7 days' recovery)."""
    if not repo_providers.delete(workspace_id, check_name(name)):
        raise NotFound(f"no provider {name}")
    repo_providers.forget_credentials(workspace_id, name)

