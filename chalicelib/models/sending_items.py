"""Items of the send pipeline's fatigue and consent controls, in the existing tables.

profiles table (under the end user's partition, so a profile erasure erases them too):
  fatigue counter  pk "<workspace_id>#<user_id>", sk "fatigue#<channel>#<period key>", kind "fatigue"
  consent          pk "<workspace_id>#<user_id>", sk "consent#<channel>",                kind "consent"
workspaces table (workspace-level data that outlives any one profile):
  fatigue rule     pk "<workspace_id>", sk "fatigue#<channel>",                           kind "fatigue_rule"
  suppression      pk "<workspace_id>#addr#<channel>#<address>", sk "suppressed",         kind "suppression"

A suppression has its own partition per address, so bulk checks spread over partitions,
and lives in the workspaces table, whose other partition keys are bare workspace ids:
in the profiles table a client's user id ``addr#email#x@example.com`` would share its
partition, and erasing that user would delete the suppression.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

from chalicelib.models.profiles import ProfilesTableItem
from chalicelib.models.workspaces import WorkspacesTableItem

FATIGUE_PREFIX = "fatigue#"
CONSENT_PREFIX = "consent#"
SUPPRESSED_SK = "suppressed"


def consent_sk(channel: str) -> str:
    return f"{CONSENT_PREFIX}{channel}"


def rule_sk(channel: str) -> str:
    return f"{FATIGUE_PREFIX}{channel}"


def suppression_pk(workspace_id: str, channel: str, address: str) -> str:
    """``address`` normalised first (``consent.address_key``): email lower-cased, phone E.164."""
    return f"{workspace_id}#addr#{channel}#{address}"


class FatigueCounterItem(ProfilesTableItem, discriminator="fatigue"):
    """The messages counted for one user, channel and period: their key digests, so a
    redelivered message is not counted twice and the count is ``size(keys)``."""

    keys = UnicodeSetAttribute(null=True)
    expires_at = NumberAttribute()  # TTL: a day after the period ends


class ConsentItem(ProfilesTableItem, discriminator="consent"):
    """A user's subscription state for one channel; no item means subscribed."""

    channel = UnicodeAttribute()
    state = UnicodeAttribute()  # subscribed | unsubscribed
    source = UnicodeAttribute(null=True)  # api | unsubscribe_link | import ...
    updated_at = UnicodeAttribute()


class FatigueRuleItem(WorkspacesTableItem, discriminator="fatigue_rule"):
    channel = UnicodeAttribute()
    max_messages = NumberAttribute(null=True)
    period = UnicodeAttribute(null=True)  # day | week | month
    quiet_start = UnicodeAttribute(null=True)  # "HH:MM", local wall clock
    quiet_end = UnicodeAttribute(null=True)
    quiet_action = UnicodeAttribute()  # defer | drop
    updated_at = UnicodeAttribute()


class SuppressionItem(WorkspacesTableItem, discriminator="suppression"):
    """An address no message of its channel goes to (``reasons``: unsubscribe,
    hard_bounce, complaint, manual; every reason ever given is kept)."""

    workspace_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    address = UnicodeAttribute()
    reasons = UnicodeSetAttribute()
    first_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
