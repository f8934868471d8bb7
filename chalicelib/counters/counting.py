"""Which counters a message's status change increments: pure, no I/O.

A message counts towards what its status says it reached: ``delivered`` means it was also
sent, ``opened`` that it was delivered, ``complained`` that it was delivered, ``bounced``
that it failed. Every final status counts the message as ``targeted`` once.

Exactness does not rest on the order statuses arrive in: the message remembers the
counters it has already incremented (``counted``, a set stored on the item and written in
the same transaction as the counters), and a change increments only what the new status
reached and is not in that set. So a late ``delivered`` after ``opened``, a duplicate
receipt, or a path through a terminal status never counts anything twice.

Clicks: ``clicked`` counts distinct click receipts (a digest of the click's time and link
kept on the message, at most ``MAX_CLICK_KEYS``), ``unique_clicks`` the messages clicked.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

FIELDS = ("targeted", "sent", "delivered", "failed", "opened", "clicked", "unique_clicks", "dropped_fatigue",
          "dropped_suppressed", "dropped_consent", "dropped_cancelled", "bounced", "complained", "cost")
MAX_CLICK_KEYS = 50

_SENT = frozenset({"targeted", "sent"})
REACHED: dict[str, frozenset[str]] = {
    "queued": frozenset(),
    "claimed": frozenset(),
    "sent": _SENT,
    "delivered": _SENT | {"delivered"},
    "opened": _SENT | {"delivered", "opened"},
    "clicked": _SENT | {"delivered", "opened", "unique_clicks"},
    "failed": frozenset({"targeted", "failed"}),
    "bounced": frozenset({"targeted", "failed", "bounced"}),
    "complained": _SENT | {"delivered", "complained"},
    "dropped_fatigue": frozenset({"targeted", "dropped_fatigue"}),
    "dropped_suppressed": frozenset({"targeted", "dropped_suppressed"}),
    "dropped_consent": frozenset({"targeted", "dropped_consent"}),
    "dropped_cancelled": frozenset({"targeted", "dropped_cancelled"}),
}


@dataclass(frozen=True)
class Counted:
    """What one write adds: counter increments, and the message's new ``counted`` set."""

    deltas: dict[str, float] = field(default_factory=dict)
    counted: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.deltas)


def on_status(status: str, counted: Iterable[str] = (), *, cost: float | None = None) -> Counted:
    """The increments for a message now in ``status`` that has already counted ``counted``."""
    already = frozenset(counted)
    new = REACHED[status] - already
    deltas: dict[str, float] = {name: 1 for name in sorted(new)}
    if "sent" in new and cost:
        deltas["cost"] = cost
    return Counted(deltas, already | new)


def click_key(at: str, url: str | None) -> str:
    """A click's identity on its message: its time and link (a redelivered receipt repeats both)."""
    return hashlib.sha256(f"{at}\x00{url or ''}".encode()).hexdigest()[:16]


def on_click(keys: Iterable[str], key: str) -> bool:
    """Whether a click with this key is new for the message (and there is room to remember it)."""
    known = frozenset(keys)
    return key not in known and len(known) < MAX_CLICK_KEYS


def owners(*, task_id: str | None, journey_id: str | None, node_id: str | None,
           campaign_id: str | None) -> list[str]:
    """The owners a message counts for: its task or journey node, and its campaign."""
    found = []
    if task_id is not None:
        found.append(f"task#{task_id}")
    elif journey_id is not None and node_id is not None:
        found.append(f"journey#{journey_id}#node#{node_id}")
    if campaign_id is not None:
        found.append(f"campaign#{campaign_id}")
    return found


def total(shards: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """The sum of an owner's shards; every field present (0 when never counted)."""
    sums: dict[str, float] = {name: 0 for name in FIELDS}
    for shard in shards:
        for name in FIELDS:
            sums[name] += shard.get(name, 0) or 0
    return sums
