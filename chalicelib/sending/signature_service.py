"""SMS signatures through the API (create, read, list, delete, review) and the sender's
check that a message's signature is approved."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from chalicelib import dynamo, pagination
from chalicelib.errors import Conflict, NotFound
from chalicelib.sending import repo_signatures, signatures
from chalicelib.sending.review import Rejection
from chalicelib.sending.signatures import Signature, SignatureIn, SignatureOut, SignaturesQuery

MAX_TRIES = 5


def create(workspace_id: str, request: SignatureIn, now: datetime) -> SignatureOut:
    """A new signature, pending review (409 already_exists for a name taken)."""
    signature = signatures.new(request, now)
    if not repo_signatures.put(workspace_id, signature, None):
        raise Conflict("already_exists", f"the signature {request.name} exists already")
    return signatures.to_api(signature)


def _current(workspace_id: str, name: str) -> Signature:
    found = repo_signatures.get(workspace_id, name)
    if found is None:
        raise NotFound(f"no signature {name}")
    return found


def get(workspace_id: str, name: str) -> SignatureOut:
    return signatures.to_api(_current(workspace_id, name))


def _change(workspace_id: str, name: str, decide: Any) -> SignatureOut:
    return signatures.to_api(dynamo.read_decide_write(
        lambda: _current(workspace_id, name), decide,
        lambda changed, current: changed == current or repo_signatures.put(workspace_id, changed, current),
        busy=f"signature {name}", tries=MAX_TRIES))


def approve(workspace_id: str, name: str, version: int | None, now: datetime) -> SignatureOut:
    return _change(workspace_id, name, lambda s: signatures.approve(s, now, version))


def reject(workspace_id: str, name: str, rejection: Rejection, now: datetime) -> SignatureOut:
    return _change(workspace_id, name, lambda s: signatures.reject(s, rejection.reason, now, rejection.version))


def delete(workspace_id: str, name: str) -> None:
    if not repo_signatures.delete(workspace_id, name):
        raise NotFound(f"no signature {name}")


def list_page(workspace_id: str, query: SignaturesQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    found, last = repo_signatures.page(workspace_id, status=query.status.value if query.status else None,
                                       limit=query.limit, start=start)
    return {"items": [signatures.to_api(s) for s in found], "next_cursor": pagination.encode(last)}


def unsendable(workspace_id: str, names: set[str]) -> Mapping[str, str]:
    """For each signature name given, why it may not be sent (approved ones are absent):
    one BatchGetItem for the lot."""
    found = repo_signatures.get_many(workspace_id, names)
    reasons = {name: signatures.unsendable_reason(name, found.get(name)) for name in names}
    return {name: reason for name, reason in reasons.items() if reason is not None}
