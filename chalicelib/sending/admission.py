"""Admission of a batch of messages before the sender claims them: consent and
suppression first, then quiet hours, then the cap.

One BatchGetItem reads what the batch needs (consent states, suppressions, counters);
pure functions decide; a conditional UpdateItem takes a place in a counter for each
message that may still be sent (none for a redelivered message already counted, none for
a counter the read found full). A message admitted with a slot keeps ``slot.counter_sk``
on its record, so a permanent send failure can give the place back
(``repo_fatigue.release_slot``), whatever period it is by then.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from chalicelib.sending import consent, fatigue
from chalicelib.sending import repo_fatigue as repo
from chalicelib.sending.consent import address_key
from chalicelib.sending.fatigue import Decision, Drop, FatigueRule, Send, Slot
from chalicelib.sending.repo_fatigue import Recipient


def admit_batch(workspace_id: str, tz: str, rules: Mapping[str, FatigueRule], recipients: Sequence[Recipient],
                now: datetime) -> dict[str, Decision]:
    """A decision per message key: Send (with the slot it holds, if counted), Drop
    (``dropped_suppressed`` or ``dropped_fatigue``, with the reason) or Defer (until)."""
    planned = {r.message_key: fatigue.admit(rules.get(r.channel), now=now, tz=tz, exempt=r.exempt) for r in recipients}
    slots = {key: d.slot for key, d in planned.items() if isinstance(d, Send) and d.slot is not None}
    facts = repo.read_facts(workspace_id, recipients, slots)
    decisions: dict[str, Decision] = {}
    for r in recipients:
        supp = facts.suppressed.get((r.channel, address_key(r.channel, r.address))) if r.address else None
        allowed = consent.check(channel=r.channel, consent=facts.consent.get((r.user_id, r.channel)),
                                suppression=supp, exempt=r.exempt)
        if isinstance(allowed, Drop):
            decisions[r.message_key] = allowed
            continue
        decision = planned[r.message_key]
        slot = decision.slot if isinstance(decision, Send) else None
        if slot is not None:
            decision = _count(workspace_id, r, slot, facts.counted.get((r.user_id, slot.counter_sk)))
        decisions[r.message_key] = decision
    return decisions


def _count(workspace_id: str, r: Recipient, slot: Slot, counted: frozenset[str] | None) -> Decision:
    state = fatigue.slot_state(slot, counted, r.message_key)
    if state == "counted":
        return Send(slot)
    if state == "full" or not repo.take_slot(workspace_id, r.user_id, slot, r.message_key):
        return fatigue.over_cap(slot)
    return Send(slot)
