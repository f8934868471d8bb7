"""The sandbox provider: a real provider that delivers nowhere.

It records every accepted message durably (a ``sandbox_outbox`` item in the messages
table, expiring by TTL), keyed by the sender's idempotency key: a repeated call with the
same key returns the first call's provider message id and records nothing new, so the
sandbox is sent at most once per key, like a provider that honours idempotency keys.

Settings (all optional): ``failure_rate`` (0..1; which messages fail is a hash of the
idempotency key, so a retry of a message fails or passes as before),
``receipt_delay_seconds`` (5), ``open_rate`` (0.5), ``click_rate`` (0.2),
``retention_days`` (7). The planned receipts (delivered, opened, clicked, with their
times) are stored with the message, and the message is marked due at the first of them:
``receipts.sandbox_poster`` posts them, signed with the account's ``receipt_secret``, to
the receipts route when they are due.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any

from chalicelib import aws, clock
from chalicelib.config import settings as app_settings
from chalicelib.models.messages import OUTBOX_SK
from chalicelib.providers.base import Outgoing, Provider, Result, register

CHANNELS = frozenset({"sms", "email", "push", "wechat", "wechat_template", "whatsapp", "viber", "webhook"})
CONCURRENCY = 8


def fraction(key: str, purpose: str) -> float:
    """A number in [0, 1) fixed by the key: the same message always draws the same."""
    digest = hashlib.sha256(f"{purpose}\x00{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2 ** 64


ID_PREFIX = "sbx1."


def provider_message_id(message_key: str) -> str:
    """The sandbox's id for a message: our message key, readable back (``message_key_of``),
    so a receipt that names only the sandbox's id still finds its message without the
    ``by_provider_id`` index."""
    return ID_PREFIX + base64.urlsafe_b64encode(message_key.encode()).decode().rstrip("=")


def message_key_of(provider_message_id: str) -> str | None:
    """Our message key inside a sandbox id (None: not one)."""
    if not provider_message_id.startswith(ID_PREFIX):
        return None
    encoded = provider_message_id[len(ID_PREFIX):]
    try:
        key = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except (binascii.Error, ValueError):
        return None
    return key if "|" in key else None


def outbox_pk(workspace_id: str, idempotency_key: str) -> str:
    return f"{workspace_id}#sandbox#{idempotency_key}"


def planned_receipts(key: str, accepted: datetime, conf: dict[str, Any]) -> list[dict[str, Any]]:
    """delivered, then maybe opened and clicked, a delay apart (deterministic per message)."""
    delay = float(conf.get("receipt_delay_seconds", 5))
    plan = [("delivered", 1)]
    if fraction(key, "open") < float(conf.get("open_rate", 0.5)):
        plan.append(("opened", 2))
        if fraction(key, "click") < float(conf.get("click_rate", 0.2)):
            plan.append(("clicked", 3))
    return [{"status": {"S": status}, "at": {"S": clock.iso(accepted + timedelta(seconds=delay * step))}}
            for status, step in plan]


@register
class SandboxProvider(Provider):
    kind = "sandbox"
    channels = CHANNELS
    max_batch = 100
    supports_idempotency_key = True
    # Its receipts name our message key (``receipts.sandbox_poster``; its ids carry it too,
    # ``message_key_of``): the sender writes no ``by_provider_id`` index entry for its
    # messages, and records the messages a call accepted in one item for the call.
    receipts_name_message_key = True

    @classmethod
    def message_id_of(cls, message_key: str) -> str | None:
        return provider_message_id(message_key)

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        rate = float(self.config.settings.get("failure_rate") or 0)
        results: list[Result | None] = [None] * len(batch)
        accepted: list[int] = []
        for i, message in enumerate(batch):
            if fraction(message.idempotency_key, "fail") < rate:
                results[i] = Result("permanent", reason=f"sandbox: simulated rejection (failure_rate {rate:g})")
            else:
                accepted.append(i)
        now = clock.now()
        if accepted:
            first = self._record(batch[accepted[0]], now)  # builds the client before threads share it
            with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
                rest = list(pool.map(lambda i: self._record(batch[i], now), accepted[1:]))
            recorded = [first, *rest]
            for i, (provider_id, _, _) in zip(accepted, recorded):
                results[i] = Result("accepted", provider_message_id=provider_id)
            # The first planned receipts, posted by receipts.sandbox_poster when due: one due
            # item for the batch's messages due at one time (not one each).
            from chalicelib.receipts import sandbox_poster

            sandbox_poster.mark_due_many([(pk, due) for _, pk, due in recorded if due is not None], now)
        return [r for r in results if r is not None]

    def _record(self, message: Outgoing, now: datetime) -> tuple[str, str, str | None]:
        """Store the message once per idempotency key: the first call's id, always, the
        outbox item's key and when its first planned receipt is due (None: none)."""
        retention = int(self.config.settings.get("retention_days", 7))
        answer = aws.dynamodb().update_item(
            TableName=app_settings.table("messages"),
            Key={"pk": {"S": outbox_pk(message.workspace_id, message.idempotency_key)}, "sk": {"S": OUTBOX_SK}},
            UpdateExpression=(
                "SET kind = :kind, workspace_id = :ws, provider = :provider, message_key = :mk, channel = :channel, "
                "provider_message_id = if_not_exists(provider_message_id, :id), "
                "accepted_at = if_not_exists(accepted_at, :now), receipts = if_not_exists(receipts, :receipts), "
                "expires_at = :expires"
                + (", #to = :to" if message.to else "") + " ADD calls :one"),
            **({"ExpressionAttributeNames": {"#to": "to"}} if message.to else {}),
            ExpressionAttributeValues={
                ":kind": {"S": "sandbox_outbox"}, ":ws": {"S": message.workspace_id},
                ":provider": {"S": self.name}, ":mk": {"S": message.message_key},
                ":channel": {"S": message.channel}, ":id": {"S": provider_message_id(message.message_key)},
                ":now": {"S": clock.iso(now)},
                ":receipts": {"L": [{"M": r} for r in planned_receipts(message.idempotency_key, now, self.config.settings)]},
                ":expires": {"N": str(int((now + timedelta(days=retention)).timestamp()))},
                ":one": {"N": "1"},
                **({":to": {"S": message.to}} if message.to else {}),
            },
            ReturnValues="ALL_NEW",
        )
        stored = answer["Attributes"]
        planned = stored.get("receipts", {}).get("L", [])
        due = str(planned[0]["M"]["at"]["S"]) if planned else None
        return str(stored["provider_message_id"]["S"]), str(stored["pk"]["S"]), due
