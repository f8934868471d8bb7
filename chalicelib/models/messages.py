"""The messages table: one item per message sent (or dropped) to a user, and the sandbox
provider's outbox.

A message's key is deterministic and is also its listing (``sending.messages.MessageKey``):

* task message:    pk = "<ws>#task#<task_id>#<shard>",       sk = "user#<user_id>"
* journey message: pk = "<ws>#journey#<journey_id>#<shard>", sk = "<node_id>#<entry_id>#<user_id>"

``shard`` (two digits, 00-15) is a hash of the user id, so a task of a million messages is
16 partitions, each below DynamoDB's 1,000 writes/s per partition at full sender speed;
listing a task's messages is 16 Queries. The item is created by the sender's claim (a
conditional put), so "one message per key" is a DynamoDB condition.

Sparse keys-only index ``by_provider_id``: ``provider_key`` =
"<ws>#<provider name>#<provider_message_id>", written only once the provider accepted the
message, so receipts find the message; the index costs one write unit per message sent,
and is not written for providers whose receipts name our message key (the sandbox).

``sandbox_outbox`` items: pk = "<ws>#sandbox#<idempotency_key>", sk = "outbox", with TTL
(``expires_at``): what the sandbox provider "delivered", and its planned receipts.

``sandbox_due`` items: pk = "sandbox_due#<shard>" (4 shards, not per workspace: the
one-minute schedule that posts the sandbox's receipts reads them all), sk = "<due time>#<digest
of its outbox pks>", ``outbox_pks``: the sandbox's next receipts to post for up to 100
messages due then (sandbox only, never in production paths).

``count_batch`` items: pk = "<ws>#countbatch#<token>", sk = "batch": a provider batch's
counting (its messages' outcomes are plain updates naming the token; the counters move
once per batch, with this item, in one transaction).

``batch_outcomes`` items: pk = "<ws>#countbatch#<token>", sk = "outcomes": the messages a
provider call accepted, for providers whose receipts name our key (no ``by_provider_id``
entry to write): the call's one outcome write. Those messages stay ``claimed`` and name
the token (``outcomes_batch``); every reader resolves them through
``sending.repo_messages`` (``read``, ``settle_items``, ``accepted_in``).

``counter`` items: pk = "<ws>#counters#<owner>" (owner: ``task#<id>``, ``campaign#<id>``,
``journey#<id>``), sk = "<UTC hour>#<shard>" (a journey's: "<UTC hour>#node#<node id>#<shard>"):
the owner's counters by hour of the status changes, spread over ``counters.repo.SHARDS`` items
per hour that a writer picks at random and a read sums (one Query).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute, ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.models.base import BaseModel, meta

OUTBOX_SK = "outbox"


class HistoryEntry(MapAttribute[str, Any]):
    status = UnicodeAttribute()
    at = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)


class ByProviderId(GlobalSecondaryIndex["MessageItem"]):
    class Meta:
        index_name = "by_provider_id"
        projection = KeysOnlyProjection()

    provider_key = UnicodeAttribute(hash_key=True)


class MessagesTableItem(BaseModel):
    """Any item of the messages table; ``kind`` says which."""

    Meta = meta("messages")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class MessageItem(MessagesTableItem, discriminator="message"):
    """One message to one user: its status, the claim that guards the provider call, cost."""

    workspace_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    provider = UnicodeAttribute()             # the provider's name in the workspace
    provider_kind = UnicodeAttribute()
    status = UnicodeAttribute()               # sending.messages.STATUSES, or "claimed"
    status_at = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)      # why failed / dropped / retried, in words
    history = ListAttribute(of=HistoryEntry, default=list)  # bounded: the last HISTORY_LIMIT
    version = NumberAttribute()               # +1 on every write by the sender (claims race on it)
    attempts = NumberAttribute(default=0)     # provider calls made for this message
    claim_token = UnicodeAttribute(null=True)  # the claimant's token; outcome writes require it
    lease_until = UnicodeAttribute(null=True)  # a claim older than this is a crashed claimant's
    idempotency_key = UnicodeAttribute()
    provider_message_id = UnicodeAttribute(null=True)
    provider_key = UnicodeAttribute(null=True)  # by_provider_id hash key, set when sent
    by_provider_id = ByProviderId()
    cost = NumberAttribute(null=True)
    created_at = UnicodeAttribute()
    campaign_id = UnicodeAttribute(null=True)      # counted for the campaign too
    fatigue_counter = UnicodeAttribute(null=True)  # the fatigue counter sk it holds a place in (released on failure)
    counted = UnicodeSetAttribute(null=True)        # counters already incremented for it (counters.counting)
    click_keys = UnicodeSetAttribute(null=True)     # digests of the distinct clicks counted (bounded)
    counter_owners = UnicodeSetAttribute(null=True)  # task#.. / journey#..#node#.. / campaign#.. it counts for
    count_batch = UnicodeAttribute(null=True)       # the provider batch whose counting transaction counts its outcome
    batch_counts = UnicodeSetAttribute(null=True)   # what that transaction counts for it (targeted, sent | failed)
    outcomes_batch = UnicodeAttribute(null=True)    # set by the claim: the provider call's outcomes item


class CountBatchItem(MessagesTableItem, discriminator="count_batch"):
    """The counting of one provider batch's outcomes (``sending.repo_messages.count_outcomes``):
    ``state`` "recorded" once the batch's counters were added in one transaction; else the
    keys (short digests) of its messages counted one by one by redeliveries after a crash
    (``counted_keys``). Expires after the sends queue's retention."""

    state = UnicodeAttribute(null=True)
    counted_keys = UnicodeSetAttribute(null=True)
    expires_at = NumberAttribute()


class BatchOutcomesItem(MessagesTableItem, discriminator="batch_outcomes"):
    """The accepted messages of one provider call (``sending.repo_messages.record_accepted``),
    for providers whose receipts name our message key: one write for the call instead of
    one outcome write per message, which stays ``claimed`` and names this item
    (``outcomes_batch``). Kept as long as the messages (no TTL)."""

    at = UnicodeAttribute()                    # when the provider answered
    provider_kind = UnicodeAttribute()
    sent = MapAttribute[str, Any]()            # message digest -> provider message id ("": derived from our key)
    cost = NumberAttribute(null=True)          # each message's cost, unless in ``costs``
    costs = MapAttribute[str, Any](null=True)  # message digest -> cost, where it differs


class SandboxOutboxItem(MessagesTableItem, discriminator="sandbox_outbox"):
    """A message the sandbox provider accepted (keyed by the sender's idempotency key)."""

    workspace_id = UnicodeAttribute()
    provider = UnicodeAttribute()
    message_key = UnicodeAttribute()          # "<pk>|<sk>" of the message item, for receipts
    provider_message_id = UnicodeAttribute()
    channel = UnicodeAttribute()
    to = UnicodeAttribute(null=True)
    calls = NumberAttribute()                 # send calls seen with this idempotency key
    accepted_at = UnicodeAttribute()
    receipts = ListAttribute(of=HistoryEntry, default=list)  # planned: delivered/opened/clicked at
    expires_at = NumberAttribute()


class SandboxDueItem(MessagesTableItem, discriminator="sandbox_due"):
    """The sandbox's next receipts to post, for up to 100 outbox messages due at one time
    (read by the one-minute schedule); items written before batching name one."""

    outbox_pk = UnicodeAttribute(null=True)
    outbox_pks = UnicodeSetAttribute(null=True)
    expires_at = NumberAttribute()


class CounterItem(MessagesTableItem, discriminator="counter"):
    """One shard of an owner's counters (``counters.counting.FIELDS``); absent fields are 0."""

    targeted = NumberAttribute(null=True)
    sent = NumberAttribute(null=True)
    delivered = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    opened = NumberAttribute(null=True)
    clicked = NumberAttribute(null=True)
    unique_clicks = NumberAttribute(null=True)
    dropped_fatigue = NumberAttribute(null=True)
    dropped_suppressed = NumberAttribute(null=True)
    dropped_consent = NumberAttribute(null=True)
    dropped_cancelled = NumberAttribute(null=True)
    bounced = NumberAttribute(null=True)
    complained = NumberAttribute(null=True)
    cost = NumberAttribute(null=True)
