"""Provider accounts' storage: settings in the channels table, credentials in Secrets
Manager under ``marketing-automation/<stage>/<workspace_id>/providers/<name>`` (a JSON
object). Credentials are read only by the sender, at send time; this module writes them
and never returns their values."""
from __future__ import annotations

import json
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import aws, dynamo
from chalicelib.config import settings
from chalicelib.models.base import plain
from chalicelib.models.channels import PROVIDER_PREFIX, ProviderItem
from chalicelib.sending.providers_config import ProviderRecord


def secret_id(workspace_id: str, name: str) -> str:
    return f"marketing-automation/{settings.stage}/{workspace_id}/providers/{name}"


def _record(item: ProviderItem) -> ProviderRecord:
    return ProviderRecord(
        name=item.sk[len(PROVIDER_PREFIX):], channel=item.channel, kind=item.provider_kind,
        settings=plain(item.settings), rate_limit=_num(item.rate_limit), batch_size=_int(item.batch_size),
        cost_per_message=_num(item.cost_per_message), endpoint=item.endpoint,
        credential_names=tuple(sorted(item.credential_names or ())), created_at=item.created_at,
        updated_at=item.updated_at, version=int(item.version),
    )


def _num(value: Any) -> float | None:
    return float(value) if value is not None else None


def _int(value: Any) -> int | None:
    return int(value) if value is not None else None


def get(workspace_id: str, name: str) -> ProviderRecord | None:
    try:
        return _record(ProviderItem.get(workspace_id, PROVIDER_PREFIX + name, consistent_read=True))
    except DoesNotExist:
        return None


def put(workspace_id: str, record: ProviderRecord, read: ProviderRecord | None) -> bool:
    """Store the settings if still as read (None: still absent); False if another writer won."""
    condition = ProviderItem.pk.does_not_exist() if read is None else ProviderItem.version == read.version
    item = ProviderItem(
        pk=workspace_id, sk=PROVIDER_PREFIX + record.name, channel=record.channel, provider_kind=record.kind,
        settings=record.settings, rate_limit=record.rate_limit, batch_size=record.batch_size,
        cost_per_message=record.cost_per_message, endpoint=record.endpoint,
        credential_names=set(record.credential_names) or None, created_at=record.created_at,
        updated_at=record.updated_at, version=record.version,
    )
    return dynamo.save_if(item, condition)


def delete(workspace_id: str, name: str) -> bool:
    return dynamo.delete_if(ProviderItem(workspace_id, PROVIDER_PREFIX + name), ProviderItem.pk.exists())


def page(workspace_id: str, limit: int, start: dict[str, Any] | None) -> tuple[list[ProviderRecord], dict[str, Any] | None]:
    result = ProviderItem.query(workspace_id, ProviderItem.sk.startswith(PROVIDER_PREFIX), limit=limit,
                                last_evaluated_key=start)
    return [_record(i) for i in result], result.last_evaluated_key


def store_credentials(workspace_id: str, name: str, given: dict[str, str]) -> tuple[str, ...]:
    """Merge the given credentials into the stored ones (given fields replace, others are
    kept) and return the names now stored."""
    client, sid = aws.secretsmanager(), secret_id(workspace_id, name)
    try:
        current = json.loads(client.get_secret_value(SecretId=sid)["SecretString"])
        exists = True
    except client.exceptions.ResourceNotFoundException:
        current, exists = {}, False
    except client.exceptions.InvalidRequestException:  # deleted with the provider, still recoverable
        client.restore_secret(SecretId=sid)
        current, exists = {}, True  # the old values are not merged into a provider made anew
    merged = {**current, **given}
    body = json.dumps(merged)
    if exists:
        client.put_secret_value(SecretId=sid, SecretString=body)
    else:
        client.create_secret(Name=sid, SecretString=body,
                             Description="provider credentials (marketing automation); read by the sender only")
    return tuple(sorted(merged))


def read_credentials(workspace_id: str, name: str) -> dict[str, str]:
    """The stored credentials (the sender's call, at send time; never logged)."""
    client = aws.secretsmanager()
    try:
        return dict(json.loads(client.get_secret_value(SecretId=secret_id(workspace_id, name))["SecretString"]))
    except client.exceptions.ResourceNotFoundException:
        return {}


def forget_credentials(workspace_id: str, name: str) -> None:
    """Schedule the secret's deletion (7 days' recovery window), if there is one."""
    client = aws.secretsmanager()
    try:
        client.delete_secret(SecretId=secret_id(workspace_id, name), RecoveryWindowInDays=7)
    except client.exceptions.ResourceNotFoundException:
        pass
