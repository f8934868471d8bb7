"""What a provider's receipts do to a message: pure, no I/O.

Receipts only move a message forward (``sending.messages.advance``): a late ``delivered``
after ``opened`` changes nothing, and a duplicate changes nothing. What the change counts
is ``counters.counting``'s, from the counters the message has already counted, so any
order and any repetition counts each thing once. A click counts once per distinct click
(its time and link). Bounces and complaints put the address on the suppression list
whether or not the status moves (a bounce after a complaint is still a dead address).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.counters import counting
from chalicelib.sending.messages import HistoryItem, RANK, advance, with_history
from chalicelib.sending.consent import SuppressionReason

SUPPRESSES: dict[str, SuppressionReason] = {"bounced": "hard_bounce", "complained": "complaint"}


@dataclass(frozen=True)
class Stored:
    """What the receipts handler reads of a message."""

    pk: str
    sk: str
    workspace_id: str
    user_id: str
    channel: str
    status: str
    version: int
    history: tuple[HistoryItem, ...] = ()
    counted: frozenset[str] = frozenset()
    click_keys: frozenset[str] = frozenset()
    owners: tuple[str, ...] = ()
    provider: str | None = None   # the provider account that sent it
    # Read as sent from its provider call's outcomes item (still ``claimed`` in the table):
    # (provider message id, cost, count batch, batch counts), written with the receipt's change.
    settle: tuple[str | None, float | None, str | None, frozenset[str]] | None = None


@dataclass(frozen=True)
class Incoming:
    """One receipt, as the queue carries it."""

    status: str
    at: str
    reason: str | None = None
    address: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Change:
    """The write for a message after its receipts: new status, history, counts."""

    status: str
    reason: str | None
    history: tuple[HistoryItem, ...]
    counted: frozenset[str]
    deltas: dict[str, float]
    new_click_keys: frozenset[str] = frozenset()
    moved: bool = False
    counted_at: str | None = None  # the latest counting receipt's time: the counters' hour bucket


@dataclass(frozen=True)
class Suppress:
    channel: str
    address: str
    reason: SuppressionReason


@dataclass(frozen=True)
class Outcome:
    change: Change | None = None            # None: nothing to write
    suppress: list[Suppress] = field(default_factory=list)


def apply(stored: Stored, receipts: Sequence[Incoming]) -> Outcome:
    """The one write that all of a message's receipts in a batch amount to (in time order)."""
    status, reason, history = stored.status, None, stored.history
    counted, clicks = stored.counted, set(stored.click_keys)
    deltas: dict[str, float] = {}
    new_clicks: set[str] = set()
    suppress: list[Suppress] = []
    counted_at: str | None = None
    for receipt in sorted(receipts, key=lambda r: (r.at, RANK.get(r.status, 0))):
        if receipt.status in SUPPRESSES and receipt.address:
            suppress.append(Suppress(stored.channel, receipt.address, SUPPRESSES[receipt.status]))
        after = advance(status, receipt.status)
        if after != status:
            status, reason = after, receipt.reason
            history = with_history(history, after, receipt.at, receipt.reason)
            step = counting.on_status(after, counted)
            counted = step.counted
            for name, value in step.deltas.items():
                deltas[name] = deltas.get(name, 0) + value
            counted_at = receipt.at if step else counted_at
        if receipt.status == "clicked":
            key = counting.click_key(receipt.at, receipt.url)
            if counting.on_click(clicks, key):
                clicks.add(key)
                new_clicks.add(key)
                deltas["clicked"] = deltas.get("clicked", 0) + 1
                counted_at = receipt.at
    moved = status != stored.status
    if not moved and not new_clicks:
        return Outcome(None, suppress)
    return Outcome(Change(status, reason, history, counted, deltas, frozenset(new_clicks), moved, counted_at), suppress)
