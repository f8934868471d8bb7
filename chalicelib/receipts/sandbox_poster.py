"""The sandbox provider posts its planned receipts back, signed, like a real provider.

When the sandbox accepts a message it stores the planned receipts on its outbox item and
marks the message due (``mark_due_many``: a ``sandbox_due`` item whose sort key starts with
the time of its first planned receipt, naming up to 100 outbox items due then: a provider
batch accepted at one moment is one PutItem). A one-minute schedule (``post_due``) reads what is due
(one Query per due shard, on the injected clock), POSTs each provider account's due
receipts to ``<MA_PUBLIC_BASE_URL>/v1/receipts/<provider>?ws=<workspace>`` signed with the
account's ``receipt_secret`` (``hmac_receipts``), and then marks each message due again at
its next planned receipt, or not at all.

Why a schedule rather than delayed queue messages: SQS delays run on the wall clock, but
the local stack's clock jumps (``POST /_local/clock``) and its scheduler fires due
schedules at the new time; so a jump of a minute posts every receipt planned within it,
and tests drive the whole path by moving the clock and invoking the schedule. In the
cloud the schedule costs one invocation and four Queries a minute, sandbox or not.

Each receipt names the message by our key (``message_key``, which the sender gave the
sandbox) as well as by the sandbox's id: the receipts handler reads the message by its key,
so the sender writes no ``by_provider_id`` index entry for sandbox messages.

Receipts already posted may be posted again (a crash after the POST, or an earlier one
for the same message still in the window): receipts are idempotent, so that is harmless.
"""
from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from chalicelib import aws, clock, dynamo, logs
from chalicelib.config import settings
from chalicelib.receipts.hmac_receipts import signed_headers
from chalicelib.receipts.json_receipts import MAX_RECEIPTS
from chalicelib.sending import repo_providers

SHARDS = 4
MAX_PER_RUN = 5_000
POST_TIMEOUT_SECONDS = 10.0
DUE_EXPIRES_DAYS = 8


MAX_PKS_PER_DUE = 100     # outbox keys per due item (about 8 KB)


def due_pk(outbox_pk: str) -> str:
    shard = int.from_bytes(hashlib.sha256(outbox_pk.encode()).digest()[:2], "big") % SHARDS
    return f"sandbox_due#{shard}"


def due_item(outbox_pks: list[str], due_at: str, now: datetime) -> dict[str, Any]:
    """One due item for messages due at one time: its sort key is the time and a digest of
    the keys (the same messages marked again write the same item)."""
    keys = sorted(set(outbox_pks))
    digest = hashlib.sha256("\x00".join(keys).encode()).hexdigest()[:24]
    return {"pk": {"S": due_pk(keys[0])}, "sk": {"S": f"{due_at}#{digest}"}, "kind": {"S": "sandbox_due"},
            "outbox_pks": {"SS": keys},
            "expires_at": {"N": str(int((now + timedelta(days=DUE_EXPIRES_DAYS)).timestamp()))}}


def due_items(pairs: list[tuple[str, str]], now: datetime) -> list[dict[str, Any]]:
    """The due items of (outbox key, due time) pairs: grouped by time, 100 keys an item."""
    by_time: dict[str, list[str]] = defaultdict(list)
    for outbox_pk, due_at in pairs:
        by_time[due_at].append(outbox_pk)
    return [due_item(keys[i:i + MAX_PKS_PER_DUE], due_at, now)
            for due_at, keys in sorted(by_time.items()) for i in range(0, len(keys), MAX_PKS_PER_DUE)]


def outbox_pks_of(due: dict[str, Any]) -> list[str]:
    """The outbox keys a due item names (items written before batching name one)."""
    if "outbox_pks" in due:
        return list(due["outbox_pks"]["SS"])
    return [due["outbox_pk"]["S"]]


def mark_due_many(pairs: list[tuple[str, str]], now: datetime) -> None:
    """These messages have a receipt to post at their time (idempotent: the same items
    each time). One item per time and 100 messages: a provider batch, accepted at one
    moment, is one PutItem, not one per message."""
    items = due_items(pairs, now)
    if len(items) == 1:
        aws.dynamodb().put_item(TableName=settings.table("messages"), Item=items[0])
    elif items:
        dynamo.batch_put(settings.table("messages"), items)


def mark_due(outbox_pk: str, due_at: str, now: datetime) -> None:
    """One message has a receipt to post at ``due_at``."""
    mark_due_many([(outbox_pk, due_at)], now)


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    return httpx.post(url, content=body, headers=headers, timeout=POST_TIMEOUT_SECONDS).status_code


transport: Callable[[str, bytes, dict[str, str]], int] = _post  # tests route it to the app in-process


def _due(now: datetime) -> list[dict[str, Any]]:
    table, upper = settings.table("messages"), clock.iso(now) + "#\uffff"
    found: list[dict[str, Any]] = []
    for shard in range(SHARDS):
        kwargs: dict[str, Any] = {
            "TableName": table, "KeyConditionExpression": "pk = :pk AND sk <= :upper",
            "ExpressionAttributeValues": {":pk": {"S": f"sandbox_due#{shard}"}, ":upper": {"S": upper}}}
        while len(found) < MAX_PER_RUN:
            answer = aws.dynamodb().query(**kwargs)
            found += answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                break
            kwargs["ExclusiveStartKey"] = answer["LastEvaluatedKey"]
    return found[:MAX_PER_RUN]


def post_due(now: datetime) -> dict[str, int]:
    """Post every sandbox receipt due by ``now``; returns what it did (for the log)."""
    counts: dict[str, int] = defaultdict(int)
    due = _due(now)
    if not due:
        return counts
    table = settings.table("messages")
    outbox = {i["pk"]["S"]: i for i in dynamo.batch_get(
        {table: [dynamo.key(pk, "outbox") for pk in {pk for d in due for pk in outbox_pks_of(d)}]})[table]}
    now_iso = clock.iso(now)
    accounts: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in outbox.values():
        accounts[(item["workspace_id"]["S"], item["provider"]["S"])].append(item)
    posted: set[str] = set()
    for (workspace_id, provider), all_items in accounts.items():
        for items, receipts in _requests(all_items, now_iso):
            if receipts and not _post_account(workspace_id, provider, receipts, now):
                counts["post_failed"] += len(receipts)
                continue
            counts["posted"] += len(receipts)
            posted.update(i["pk"]["S"] for i in items)
    _advance(due, outbox, posted, now, counts)
    return counts


def _requests(items: list[dict[str, Any]], now_iso: str) -> list[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """An account's due receipts as requests the receipts route takes (at most
    ``json_receipts.MAX_RECEIPTS`` each): (the outbox items, their receipts) per request."""
    out: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = [([], [])]
    for item in items:
        mine = [{"provider_message_id": item["provider_message_id"]["S"], "message_key": item["message_key"]["S"],
                 "status": r["M"]["status"]["S"], "at": r["M"]["at"]["S"]} for r in item.get("receipts", {}).get("L", []) if r["M"]["at"]["S"] <= now_iso]
        if len(out[-1][1]) + len(mine) > MAX_RECEIPTS:
            out.append(([], []))
        out[-1][0].append(item)
        out[-1][1].extend(mine)
    return out


def _post_account(workspace_id: str, provider: str, receipts: list[dict[str, Any]], now: datetime) -> bool:
    secret = repo_providers.read_credentials(workspace_id, provider).get("receipt_secret")
    if not secret:
        logs.logger.warning("sandbox receipts not posted: the account has no receipt_secret",
                            extra={"workspace_id": workspace_id, "provider": provider})
        return False
    body = json.dumps({"receipts": receipts}, separators=(",", ":")).encode()
    url = f"{settings.public_base_url}/v1/receipts/{provider}?ws={workspace_id}"
    headers = {"Content-Type": "application/json", **signed_headers(secret, body, now)}
    try:
        status = transport(url, body, headers)
    except httpx.HTTPError as error:
        logs.logger.warning("sandbox receipts not posted", extra={"provider": provider, "error": type(error).__name__})
        return False
    if status >= 300:
        logs.logger.warning("sandbox receipts refused", extra={"provider": provider, "status": status})
    return status < 300


def _advance(due: list[dict[str, Any]], outbox: dict[str, dict[str, Any]], posted: set[str], now: datetime,
             counts: dict[str, int]) -> None:
    """Due items whose messages were all posted (or are gone): deleted, and the next
    planned receipt of each message marked due (grouped: one item per time and 100)."""
    now_iso = clock.iso(now)
    table = settings.table("messages")
    done = [d for d in due if all(pk in posted or pk not in outbox for pk in outbox_pks_of(d))]
    later: list[tuple[str, str]] = []
    for pk in dict.fromkeys(pk for d in done for pk in outbox_pks_of(d)):
        item = outbox.get(pk)
        upcoming = sorted(r["M"]["at"]["S"] for r in (item or {}).get("receipts", {}).get("L", [])
                          if r["M"]["at"]["S"] > now_iso)
        if upcoming:
            later.append((pk, upcoming[0]))
    if later:
        dynamo.batch_put(table, due_items(later, now))
    dynamo.batch_delete(table, [dynamo.key(d["pk"]["S"], d["sk"]["S"]) for d in done])
    counts["later"] += len(later)
