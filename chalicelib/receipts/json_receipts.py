"""Callbacks of the ``webhook`` and ``sandbox`` providers: signed JSON receipts.

Body: ``{"receipts": [{"provider_message_id", "status", "at", "reason"?, "address"?,
"url"?, "message_key"?}]}``; ``message_key`` is the key the sender gave the provider
(``Outgoing.message_key``, in the webhook's body): a receipt naming it is applied by key,
without the lookup by provider message id, at most ``MAX_RECEIPTS``, signed as ``hmac_receipts`` says with the account's
secret: ``signing_secret`` for a webhook account, ``receipt_secret`` for a sandbox account
(generated when the account is created, ``sending.provider_service``). Verified first,
then parsed; nothing is queued from a request that fails either.
"""
from __future__ import annotations

import json
from typing import Any

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib import clock
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, Provider, Receipt, ReceiptStatus, register_callback,
)
from chalicelib.receipts import secrets
from chalicelib.receipts.hmac_receipts import verify_receipt_signature

MAX_RECEIPTS = 1000


@dataclass(frozen=True)
class KeyedProviderReceipt(Receipt):
    """A provider's receipt that also names our message key (applied by key)."""

    message_key: str | None = None
SECRET_OF_KIND = {"webhook": "signing_secret", "sandbox": "receipt_secret"}


class _Receipt(BaseModel):
    model_config = ConfigDict(extra="ignore")
    provider_message_id: str = Field(min_length=1, max_length=256)
    status: ReceiptStatus
    at: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(None, max_length=1000)
    address: str | None = Field(None, max_length=320)
    url: str | None = Field(None, max_length=2048)
    message_key: str | None = Field(None, min_length=3, max_length=1024, pattern=r"^[^|]+\|.+$")


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")
    receipts: list[_Receipt] = Field(max_length=MAX_RECEIPTS)


def parse_receipts(body: bytes) -> list[Receipt]:
    """The receipts of a verified body; ``CallbackMalformed`` (in words) when it is not that shape."""
    try:
        data: Any = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackMalformed("the body is not JSON") from None
    try:
        parsed = _Body.model_validate(data)
    except ValidationError as error:  # (a ValueError too: caught apart from the JSON's)
        first = error.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise CallbackMalformed(f"{where}: {first['msg']}") from None
    out = []
    for index, r in enumerate(parsed.receipts):
        try:
            at = clock.parse_iso(r.at)
        except clock.BadTime as error:
            raise CallbackMalformed(f"receipts.{index}.at {error}") from None
        out.append(KeyedProviderReceipt(r.provider_message_id, r.status, at, r.reason, r.address, r.url,
                                        r.message_key) if r.message_key else
                   Receipt(r.provider_message_id, r.status, at, r.reason, r.address, r.url))
    return out


def handle_signed_json(provider: Provider, callback: Callback) -> CallbackResult:
    """Verify the HMAC signature (401), then parse the receipts (400)."""
    if callback.method != "POST":
        raise CallbackMalformed("receipts are POSTed")
    name = SECRET_OF_KIND[provider.config.kind]
    secret = secrets.credentials(provider).get(name)
    if not secret:
        raise CallbackRejected(f"the provider account has no {name} to verify receipts with")
    verify_receipt_signature(str(secret), callback.headers, callback.body, clock.now())
    return CallbackResult(receipts=parse_receipts(callback.body))


register_callback("webhook")(handle_signed_json)
register_callback("sandbox")(handle_signed_json)
