"""Storage of fatigue and consent: counters, consent states, suppressions and fatigue
rules, as plain records in and out. What to decide is in ``fatigue`` and ``consent``.

The cap is a condition, not a read then a write: a message takes a place in its counter
with one UpdateItem, ``ADD keys :digest`` if ``NOT contains(keys, :digest) AND size(keys)
< :max`` (or no keys yet). Concurrent senders are serialised by DynamoDB on the counter
item, so at most ``max`` distinct messages ever hold a place, and a redelivered message
finds its own digest and is not counted again.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from chalicelib import aws, clock, dynamo
from chalicelib.config import settings
from chalicelib.models.profiles import user_pk
from chalicelib.models.sending_items import (
    FATIGUE_PREFIX, SUPPRESSED_SK, ConsentItem, FatigueRuleItem, consent_sk, rule_sk, suppression_pk,
)
from chalicelib.sending.consent import ConsentState, Suppression, SuppressionReason, address_key
from chalicelib.sending.fatigue import FatigueRule, QuietHours, Slot, message_digest


@dataclass(frozen=True)
class Recipient:
    """One message to admit: who, on which channel, to which address, under which key."""

    message_key: str  # the sender's deterministic message key (task+user, journey+node+user+entry)
    user_id: str
    channel: str
    address: str | None = None  # as the message will be sent; normalised here
    exempt: bool = False  # transactional: skips fatigue, and consent except hard suppressions


@dataclass(frozen=True)
class Facts:
    """What one BatchGetItem found for a batch of recipients."""

    consent: dict[tuple[str, str], ConsentState]  # (user_id, channel) -> state, when stored
    suppressed: dict[tuple[str, str], Suppression]  # (channel, address key) -> suppression
    counted: dict[tuple[str, str], frozenset[str]]  # (user_id, counter sk) -> digests counted


def _profiles() -> str:
    return settings.table("profiles")


def _workspaces() -> str:
    return settings.table("workspaces")


# --- one read for a batch ---------------------------------------------------------------------

def read_facts(workspace_id: str, recipients: Sequence[Recipient], slots: Mapping[str, Slot]) -> Facts:
    """Consent states, suppressions and counters of a batch of messages in one
    BatchGetItem (100 keys a call, so one call up to 33 messages). ``slots`` maps message
    keys to the counter each must take a place in.

    Eventually consistent, at half the price: a counter read is only a hint (the
    conditional write decides; a stale "open" costs a failed write, and a key once
    counted stays counted unless its send failed for good), and an unsubscribe or
    bounce under a second old may let one more message through, as it would have a
    moment earlier."""
    profile_keys: dict[tuple[str, str], dict[str, Any]] = {}
    suppression_keys: dict[tuple[str, str], dict[str, Any]] = {}
    for r in recipients:
        pk = user_pk(workspace_id, r.user_id)
        profile_keys[(pk, consent_sk(r.channel))] = dynamo.key(pk, consent_sk(r.channel))
        slot = slots.get(r.message_key)
        if slot is not None:
            profile_keys[(pk, slot.counter_sk)] = dynamo.key(pk, slot.counter_sk)
        if r.address:
            spk = suppression_pk(workspace_id, r.channel, address_key(r.channel, r.address))
            suppression_keys[(spk, SUPPRESSED_SK)] = dynamo.key(spk, SUPPRESSED_SK)
    requests = {table: keys for table, keys in (
        (_profiles(), list(profile_keys.values())), (_workspaces(), list(suppression_keys.values()))) if keys}
    found = dynamo.batch_get(requests, consistent=False) if requests else {}
    facts = Facts(consent={}, suppressed={}, counted={})
    prefix = f"{workspace_id}#"
    for item in found.get(_profiles(), []):
        user_id, sk = item["pk"]["S"][len(prefix):], item["sk"]["S"]
        if item.get("kind", {}).get("S") == "consent":
            facts.consent[(user_id, item["channel"]["S"])] = item["state"]["S"]
        elif item.get("kind", {}).get("S") == "fatigue":
            facts.counted[(user_id, sk)] = frozenset(item.get("keys", {}).get("SS", []))
    for item in found.get(_workspaces(), []):
        facts.suppressed[(item["channel"]["S"], item["address"]["S"])] = Suppression(
            frozenset(item["reasons"]["SS"]), item["first_at"]["S"])
    return facts


# --- counters ---------------------------------------------------------------------------------

def take_slot(workspace_id: str, user_id: str, slot: Slot, message_key: str) -> bool:
    """Count ``message_key`` in its counter if there is room; True when the message holds a
    place (now, or already from an earlier delivery), False when the counter is full."""
    digest = message_digest(message_key)
    try:
        aws.dynamodb().update_item(
            TableName=_profiles(),
            Key=dynamo.key(user_pk(workspace_id, user_id), slot.counter_sk),
            UpdateExpression="ADD #keys :digests SET #kind = :kind, expires_at = :expires",
            ConditionExpression="attribute_not_exists(#keys) OR (NOT contains(#keys, :digest) AND size(#keys) < :max)",
            ExpressionAttributeNames={"#keys": "keys", "#kind": "kind"},
            ExpressionAttributeValues={
                ":digests": {"SS": [digest]}, ":digest": {"S": digest}, ":max": {"N": str(slot.max_messages)},
                ":kind": {"S": "fatigue"}, ":expires": {"N": str(slot.expires_at)},
            },
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        counted = error.response.get("Item", {}).get("keys", {}).get("SS", [])
        return digest in counted  # a redelivery of a counted message; else the counter is full


def release_slot(workspace_id: str, user_id: str, counter_sk: str, message_key: str) -> bool:
    """Give back the place a message took (its send failed for good); False when it held
    none, so releasing twice frees one place."""
    digest = message_digest(message_key)
    try:
        aws.dynamodb().update_item(
            TableName=_profiles(),
            Key=dynamo.key(user_pk(workspace_id, user_id), counter_sk),
            UpdateExpression="DELETE #keys :digests",
            ConditionExpression="contains(#keys, :digest)",
            ExpressionAttributeNames={"#keys": "keys"},
            ExpressionAttributeValues={":digests": {"SS": [digest]}, ":digest": {"S": digest}},
        )
        return True
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        return False


def counted(workspace_id: str, user_id: str, counter_sk: str) -> int:
    """How many messages a counter holds (tests, support)."""
    item = aws.dynamodb().get_item(TableName=_profiles(), Key=dynamo.key(user_pk(workspace_id, user_id), counter_sk),
                                   ConsistentRead=True).get("Item", {})
    return len(item.get("keys", {}).get("SS", []))


# --- consent and suppression ------------------------------------------------------------------

def set_consent(workspace_id: str, user_id: str, channel: str, state: ConsentState, now: datetime,
                source: str = "api") -> None:
    """Store a user's subscription state for a channel (a put: the last word wins)."""
    ConsentItem(user_pk(workspace_id, user_id), consent_sk(channel), channel=channel, state=state, source=source,
                updated_at=clock.iso(now)).save()


def unsubscribe(workspace_id: str, user_id: str, channel: str, now: datetime, source: str = "api") -> None:
    set_consent(workspace_id, user_id, channel, "unsubscribed", now, source)


def suppress(workspace_id: str, channel: str, address: str, reason: SuppressionReason, now: datetime) -> None:
    """Put an address on the workspace's suppression list for a channel. Reasons add up
    (a complaint after an unsubscribe keeps both); the first time is kept."""
    key = address_key(channel, address)
    at = clock.iso(now)
    aws.dynamodb().update_item(
        TableName=_workspaces(),
        Key=dynamo.key(suppression_pk(workspace_id, channel, key), SUPPRESSED_SK),
        UpdateExpression="ADD reasons :reason SET #kind = :kind, workspace_id = :ws, channel = :channel, "
                         "address = :address, first_at = if_not_exists(first_at, :at), updated_at = :at",
        ExpressionAttributeNames={"#kind": "kind"},
        ExpressionAttributeValues={
            ":reason": {"SS": [reason]}, ":kind": {"S": "suppression"}, ":ws": {"S": workspace_id},
            ":channel": {"S": channel}, ":address": {"S": key}, ":at": {"S": at},
        },
    )


def suppression(workspace_id: str, channel: str, address: str) -> Suppression | None:
    """The suppression of one address (a GetItem), or None."""
    key = dynamo.key(suppression_pk(workspace_id, channel, address_key(channel, address)), SUPPRESSED_SK)
    item = aws.dynamodb().get_item(TableName=_workspaces(), Key=key, ConsistentRead=True).get("Item")
    return Suppression(frozenset(item["reasons"]["SS"]), item["first_at"]["S"]) if item else None


# --- rules ------------------------------------------------------------------------------------

def _rule(item: FatigueRuleItem) -> FatigueRule:
    quiet = QuietHours.parse(item.quiet_start, item.quiet_end) if item.quiet_start and item.quiet_end else None
    return FatigueRule(
        channel=item.channel, max_messages=int(item.max_messages) if item.max_messages is not None else None,
        period=item.period, quiet_hours=quiet, quiet_action=item.quiet_action,  # type: ignore[arg-type]
    )


@dataclass(frozen=True)
class StoredRule:
    rule: FatigueRule
    updated_at: str


def load_rules(workspace_id: str) -> dict[str, FatigueRule]:
    """The workspace's fatigue rules by channel (one Query)."""
    return {stored.rule.channel: stored.rule for stored in list_rules(workspace_id)}


def list_rules(workspace_id: str) -> list[StoredRule]:
    items = FatigueRuleItem.query(workspace_id, FatigueRuleItem.sk.startswith(FATIGUE_PREFIX), consistent_read=True)
    return [StoredRule(_rule(i), i.updated_at) for i in items]


def get_rule(workspace_id: str, channel: str) -> StoredRule | None:
    try:
        item = FatigueRuleItem.get(workspace_id, rule_sk(channel), consistent_read=True)
    except DoesNotExist:
        return None
    return StoredRule(_rule(item), item.updated_at)


def put_rule(workspace_id: str, rule: FatigueRule, now: datetime) -> StoredRule:
    """Store (replace) the rule of a channel."""
    at = clock.iso(now)
    FatigueRuleItem(
        workspace_id, rule_sk(rule.channel), channel=rule.channel, max_messages=rule.max_messages,
        period=rule.period, quiet_start=f"{rule.quiet_hours.start:%H:%M}" if rule.quiet_hours else None,
        quiet_end=f"{rule.quiet_hours.end:%H:%M}" if rule.quiet_hours else None,
        quiet_action=rule.quiet_action, updated_at=at,
    ).save()
    return StoredRule(rule, at)


def delete_rule(workspace_id: str, channel: str) -> bool:
    return dynamo.delete_if(FatigueRuleItem(workspace_id, rule_sk(channel)), FatigueRuleItem.pk.exists())
