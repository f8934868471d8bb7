"""SMS signatures' storage (the channels table, sk "signature#<name>"), as plain
``signatures.Signature``; writes are conditioned on the version and status read."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import dynamo
from chalicelib.config import settings
from chalicelib.models.channels import SIGNATURE_PREFIX, SignatureItem
from chalicelib.sending.review import Status
from chalicelib.sending.signatures import Signature


def _signature(item: SignatureItem) -> Signature:
    return Signature(name=item.name, provider=item.provider, description=item.description,
                     status=Status(item.status), version=int(item.version), created_at=item.created_at,
                     updated_at=item.updated_at, reason=item.reason, reviewed_at=item.reviewed_at)


def get(workspace_id: str, name: str) -> Signature | None:
    try:
        return _signature(SignatureItem.get(workspace_id, SIGNATURE_PREFIX + name, consistent_read=True))
    except DoesNotExist:
        return None


def get_many(workspace_id: str, names: Iterable[str]) -> dict[str, Signature]:
    """The signatures among ``names`` that exist: one BatchGetItem (the sender's check)."""
    keys = [dynamo.key(workspace_id, SIGNATURE_PREFIX + n) for n in sorted(set(names))]
    if not keys:
        return {}
    table = settings.table("channels")
    found = dynamo.batch_get({table: keys})[table]
    items = [SignatureItem.from_raw_data(raw) for raw in found if raw.get("kind", {}).get("S") == "sms_signature"]
    return {item.name: _signature(item) for item in items}


def put(workspace_id: str, signature: Signature, read: Signature | None) -> bool:
    """Store it if still as read (``read`` None: still absent); False when another writer won."""
    if read is None:
        condition = SignatureItem.pk.does_not_exist()
    else:
        condition = (SignatureItem.version == read.version) & (SignatureItem.status == read.status.value)
    item = SignatureItem(
        pk=workspace_id, sk=SIGNATURE_PREFIX + signature.name, name=signature.name, provider=signature.provider,
        description=signature.description, status=signature.status.value, version=signature.version,
        reason=signature.reason, created_at=signature.created_at, updated_at=signature.updated_at,
        reviewed_at=signature.reviewed_at,
    )
    return dynamo.save_if(item, condition)


def delete(workspace_id: str, name: str) -> bool:
    return dynamo.delete_if(SignatureItem(workspace_id, SIGNATURE_PREFIX + name), SignatureItem.pk.exists())


def page(workspace_id: str, *, status: str | None, limit: int,
         start: dict[str, Any] | None) -> tuple[list[Signature], dict[str, Any] | None]:
    """Signatures by name: Query (ws, begins_with(sk, "signature#")), filtered by status."""
    condition = (SignatureItem.status == status) if status else None
    result = SignatureItem.query(workspace_id, SignatureItem.sk.startswith(SIGNATURE_PREFIX),
                                 filter_condition=condition, limit=limit, last_evaluated_key=start)
    return [_signature(i) for i in result], result.last_evaluated_key
