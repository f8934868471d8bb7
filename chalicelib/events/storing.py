"""What a chunk of queued events changes: pure decisions over plain data.

Exactly once without a transaction. The handler writes, in this order: claims (the time
given to a client's event id that came without one), the aggregates (conditioned on the
version read), then the events. An aggregate lists the events it has counted that may not
be stored yet (``pending``), so:

* an event already stored was counted: skip it;
* an event in its aggregate's ``pending`` was counted but not stored (a crash, or a lost
  race after the aggregate was written): store it, count nothing;
* any other event is counted and stored.

Each aggregate write keeps the pending events that are still not stored and adds the ones
it counts; the stored ones drop out. So an event is stored only after it was counted, and
counted only while it is neither stored nor pending: never twice, whatever SQS redelivers
and however handlers race (docs/data-model.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.events import aggregates
from chalicelib.events.messages import QueuedEvent
from chalicelib.models.events import claim_sk, event_sk

MAX_KEYS_PER_READ = 100  # one BatchGetItem
MAX_PENDING = 500        # bounds an aggregate whose pending events can never be stored


@dataclass(frozen=True)
class Aggregate:
    stat: aggregates.Stat
    version: int
    pending: tuple[str, ...] = ()


@dataclass
class ChunkState:
    """What the store holds for a chunk's users (keys are (user_id, sort key))."""

    stored: set[tuple[str, str]] = field(default_factory=set)
    claims: dict[tuple[str, str], str] = field(default_factory=dict)  # (user, event id) -> claimed ts
    aggregates: dict[tuple[str, str], Aggregate] = field(default_factory=dict)  # (user, name)
    profiles: set[str] = field(default_factory=set)
    erased: dict[str, str] = field(default_factory=dict)  # user -> erased_at


@dataclass(frozen=True)
class AggregateWrite:
    user_id: str
    name: str
    stat: aggregates.Stat
    version: int  # the new version; the one read is version - 1 (0: absent)
    pending: tuple[str, ...]


@dataclass
class ChunkPlan:
    claims: list[tuple[str, str, str]] = field(default_factory=list)  # (user, event id, ts)
    events: list[QueuedEvent] = field(default_factory=list)
    aggregates: list[AggregateWrite] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    counted: int = 0
    skipped: int = 0

    @property
    def empty(self) -> bool:
        return not (self.claims or self.events or self.aggregates or self.profiles)


@dataclass(frozen=True)
class KeysToRead:
    events: list[tuple[str, str]]
    users: list[str]
    stats: list[tuple[str, str]]

    def after_first_read(self, state: ChunkState) -> set[tuple[str, str]]:
        """Keys known only once the first read is back: claimed events, pending events."""
        claimed = {(user, event_sk(ts, event_id)) for (user, event_id), ts in state.claims.items()}
        pending = {(user, sk) for (user, _), agg in state.aggregates.items() for sk in agg.pending}
        return claimed | pending


def keys_to_read(chunk: Sequence[QueuedEvent]) -> KeysToRead:
    events: list[tuple[str, str]] = []
    for e in chunk:
        events.append((e.user_id, event_sk(e.ts, e.event_id)))
        if e.claim:
            events.append((e.user_id, claim_sk(e.event_id)))
    return KeysToRead(events=events, users=sorted({e.user_id for e in chunk}),
                      stats=sorted({(e.user_id, e.name) for e in chunk}))


def plan_chunk(chunk: Sequence[QueuedEvent], state: ChunkState, received_at: str) -> ChunkPlan:
    """Which claims, aggregates, events and profiles to write for ``chunk`` (unique events)."""
    plan = ChunkPlan()
    counted: dict[tuple[str, str], list[QueuedEvent]] = {}
    for event in chunk:
        if received_at <= state.erased.get(event.user_id, ""):
            plan.skipped += 1  # received before the user's erasure
            continue
        if event.claim:
            claimed = state.claims.get((event.user_id, event.event_id))
            if claimed is None:
                plan.claims.append((event.user_id, event.event_id, event.ts))
            elif claimed != event.ts:
                event = event.model_copy(update={"ts": claimed})
        sk = event_sk(event.ts, event.event_id)
        if (event.user_id, sk) in state.stored:
            plan.skipped += 1
            continue
        plan.events.append(event)
        current = state.aggregates.get((event.user_id, event.name))
        if current is None or sk not in current.pending:
            counted.setdefault((event.user_id, event.name), []).append(event)
    for (user_id, name), events in counted.items():
        current = state.aggregates.get((user_id, name))
        stat = aggregates.fold(current.stat if current else None, [(e.ts, e.properties) for e in events])
        assert stat is not None
        carried = [sk for sk in (current.pending if current else ()) if (user_id, sk) not in state.stored]
        pending = tuple((carried + [event_sk(e.ts, e.event_id) for e in events])[-MAX_PENDING:])
        plan.aggregates.append(AggregateWrite(user_id, name, stat, (current.version if current else 0) + 1, pending))
        plan.counted += len(events)
    plan.profiles = sorted({user_id for user_id, _ in counted} - state.profiles)
    return plan


def read_keys(events: Sequence[QueuedEvent]) -> int:
    """Keys the first read of these events takes: event keys and claims, one aggregate per
    (user, name), a profile and a tombstone per user."""
    return (len(events) + sum(1 for e in events if e.claim) + len({(e.user_id, e.name) for e in events})
            + 2 * len({e.user_id for e in events}))


def plan_chunks(events: Sequence[QueuedEvent], limit: int = MAX_KEYS_PER_READ) -> list[list[QueuedEvent]]:
    """Split events, in order, so each chunk's first read fits one BatchGetItem."""
    chunks: list[list[QueuedEvent]] = []
    current: list[QueuedEvent] = []
    stats: set[tuple[str, str]] = set()
    users: set[str] = set()
    claims = 0
    for event in events:
        cost = 1 + int(event.claim) + int((event.user_id, event.name) not in stats) + 2 * int(event.user_id not in users)
        if current and len(current) + claims + len(stats) + 2 * len(users) + cost > limit:
            chunks.append(current)
            current, stats, users, claims = [], set(), set(), 0
        current.append(event)
        stats.add((event.user_id, event.name))
        users.add(event.user_id)
        claims += int(event.claim)
    if current:
        chunks.append(current)
    return chunks
