"""The exactly-once decision (events.storing.plan_chunk) against an in-memory store.

The fake store applies a plan in the repository's order (claims, aggregates, events) with
the same conditions, and can crash at any point or be overtaken by another delivery
between its read and its write. Whatever the interleaving, once every message has been
delivered successfully, each event is stored once and counted once.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import HealthCheck, given, settings, strategies as st

from chalicelib.events import aggregates
from chalicelib.events.messages import QueuedEvent
from chalicelib.events.storing import Aggregate, ChunkPlan, ChunkState, keys_to_read, plan_chunk
from chalicelib.models.events import event_sk

RECEIVED = "2026-11-20T00:00:00.000Z"


class Crash(Exception):
    pass


class Lost(Exception):
    pass


@dataclass
class FakeStore:
    events: dict[tuple[str, str], QueuedEvent] = field(default_factory=dict)  # (user, sk)
    claims: dict[tuple[str, str], str] = field(default_factory=dict)
    aggs: dict[tuple[str, str], Aggregate] = field(default_factory=dict)
    profiles: set[str] = field(default_factory=set)

    def read(self, chunk: list[QueuedEvent]) -> ChunkState:
        wanted = keys_to_read(chunk)
        state = ChunkState()
        for user, sk in wanted.events:
            if sk.startswith("id#") and (user, sk[3:]) in self.claims:
                state.claims[(user, sk[3:])] = self.claims[(user, sk[3:])]
            elif (user, sk) in self.events:
                state.stored.add((user, sk))
        state.aggregates = {k: v for k, v in self.aggs.items() if k in set(wanted.stats)}
        state.profiles = self.profiles & set(wanted.users)
        state.stored |= {k for k in wanted.after_first_read(state) if k in self.events}
        return state

    def write(self, plan: ChunkPlan, crash_after: int | None) -> None:
        """Apply the plan step by step (each claim, aggregate and event is a step)."""
        steps = 0

        def step() -> None:
            nonlocal steps
            if crash_after is not None and steps >= crash_after:
                raise Crash
            steps += 1

        for user, event_id, ts in plan.claims:
            step()
            if (user, event_id) in self.claims:
                raise Lost
            self.claims[(user, event_id)] = ts
        lost = False
        for write in plan.aggregates:
            step()
            current = self.aggs.get((write.user_id, write.name))
            if (current.version if current else 0) != write.version - 1:
                lost = True
                continue
            self.aggs[(write.user_id, write.name)] = Aggregate(write.stat, write.version, write.pending)
        if lost:
            raise Lost
        for event in plan.events:
            step()
            self.events[(event.user_id, event_sk(event.ts, event.event_id))] = event
        self.profiles |= set(plan.profiles)

    def deliver(self, chunk: list[QueuedEvent], crash_after: int | None = None,
                overtaken_by: list[QueuedEvent] | None = None) -> None:
        for _ in range(20):
            state = self.read(chunk)
            if overtaken_by is not None:  # another handler runs between our read and our write
                self.deliver(overtaken_by)
                overtaken_by = None
            plan = plan_chunk(chunk, state, RECEIVED)
            try:
                self.write(plan, crash_after)
                return
            except Lost:
                continue
        raise AssertionError("never settled")


def event(user: str, n: int, name: str, ts: str, claim: bool) -> QueuedEvent:
    return QueuedEvent(user_id=user, event_id=f"{user}-{n}", name=name, ts=ts, properties={"amount": n}, claim=claim)


TIMES = [f"2026-11-1{d}T00:00:00.000Z" for d in range(1, 4)]
base_events = st.lists(
    st.tuples(st.sampled_from(["u1", "u2"]), st.integers(0, 5), st.sampled_from(["view", "buy"]), st.booleans()),
    min_size=1, max_size=8, unique_by=lambda t: (t[0], t[1]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(base=base_events, data=st.data())
def test_every_event_is_stored_once_and_counted_once_whatever_happens(base, data):
    store = FakeStore()
    # Messages carry subsets of the events; a claimed event may come again with a later
    # server time (a client retry); the others always come with the same time.
    messages = []
    for _ in range(data.draw(st.integers(1, 4), label="messages")):
        picked = data.draw(st.lists(st.sampled_from(base), min_size=1, unique=True), label="picked")
        messages.append([event(u, n, name, data.draw(st.sampled_from(TIMES)) if claim else TIMES[0], claim)
                         for u, n, name, claim in picked])
    for _ in range(data.draw(st.integers(0, 6), label="deliveries")):
        chunk = data.draw(st.sampled_from(messages))
        crash = data.draw(st.one_of(st.none(), st.integers(0, 12)), label="crash after steps")
        other = data.draw(st.one_of(st.none(), st.sampled_from(messages)), label="overtaken by")
        try:
            store.deliver(chunk, crash, other)
        except Crash:
            pass
    for chunk in messages:  # every message is eventually delivered without a crash
        store.deliver(chunk)

    sent = {(e.user_id, e.event_id) for chunk in messages for e in chunk}
    stored = [(e.user_id, e.event_id) for e in store.events.values()]
    assert sorted(stored) == sorted(sent)  # each once
    for (user, name), agg in store.aggs.items():
        mine = {e.event_id: e for e in store.events.values() if (e.user_id, e.name) == (user, name)}
        assert agg.stat.count == len(mine)
        assert agg.stat.sums.get("amount", 0) == sum(e.properties["amount"] for e in mine.values())
    for e in store.events.values():
        if e.claim:  # stored at the time it first claimed
            assert store.claims[(e.user_id, e.event_id)] == e.ts


def test_events_received_before_the_erasure_are_dropped():
    state = ChunkState(erased={"u1": "2026-11-21T00:00:00.000Z"})
    plan = plan_chunk([event("u1", 1, "view", TIMES[0], False), event("u2", 1, "view", TIMES[0], False)], state, RECEIVED)
    assert [e.user_id for e in plan.events] == ["u2"] and plan.skipped == 1


def test_a_pending_event_is_stored_without_counting_and_stored_ones_leave_pending():
    stat = aggregates.Stat(count=2, first_at=TIMES[0], last_at=TIMES[0], sums={"amount": 3})
    pending = (event_sk(TIMES[0], "u1-1"), event_sk(TIMES[0], "u1-2"))
    state = ChunkState(aggregates={("u1", "view"): Aggregate(stat, 4, pending)}, stored={("u1", pending[1])},
                       profiles={"u1"})

    plan = plan_chunk([event("u1", 1, "view", TIMES[0], False), event("u1", 3, "view", TIMES[1], False)],
                      state, RECEIVED)

    assert [e.event_id for e in plan.events] == ["u1-1", "u1-3"]
    [write] = plan.aggregates
    assert write.stat.count == 3 and write.version == 5
    assert write.pending == (pending[0], event_sk(TIMES[1], "u1-3"))  # u1-1 still pending, u1-2 stored
    assert plan.profiles == []
