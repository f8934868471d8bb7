"""The sender's steps before the claim (``sender.STEPS``), each reading what it needs for
the whole batch in one call and deciding per message with pure functions.

``admit``: consent and suppression, quiet hours and the fatigue cap of each message's
workspace and channel (``admission.admit_batch``), translated into the sender's decisions.
"""
from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from chalicelib.sending import admission, fatigue
from chalicelib.sending import repo_fatigue
from chalicelib.sending.messages import Decision, Defer, Drop, MessageKey, Send
from chalicelib.tenancy import repo as tenancy

if TYPE_CHECKING:
    from chalicelib.sending.sender import Job

SETTINGS_CACHE_SECONDS = 60.0
_settings_cache: dict[str, tuple[float, str, dict[str, fatigue.FatigueRule]]] = {}


def message_id(key: MessageKey) -> str:
    """The message key as one string (what the fatigue counters remember)."""
    return f"{key.pk}|{key.sk}"


def _workspace_rules(workspace_id: str) -> tuple[str, dict[str, fatigue.FatigueRule]]:
    """The workspace's time zone and fatigue rules, read at most once a minute per process
    (a changed rule applies to messages admitted from the next minute on)."""
    cached = _settings_cache.get(workspace_id)
    if cached and time.monotonic() - cached[0] < SETTINGS_CACHE_SECONDS:
        return cached[1], cached[2]
    workspace = tenancy.get_workspace(workspace_id)
    tz = workspace.timezone if workspace else "UTC"
    rules = repo_fatigue.load_rules(workspace_id)
    _settings_cache[workspace_id] = (time.monotonic(), tz, rules)
    return tz, rules


def _translate(decision: fatigue.Decision) -> Decision:
    if isinstance(decision, fatigue.Drop):
        return Drop(decision.status, decision.reason)
    if isinstance(decision, fatigue.Defer):
        return Defer(decision.until, decision.reason)
    return Send(decision.slot.counter_sk if decision.slot is not None else None)


def admit(jobs: Sequence["Job"], now: datetime) -> Mapping[MessageKey, Decision]:
    """Consent, suppression, quiet hours and caps for a batch of never-seen messages."""
    by_workspace: dict[str, list["Job"]] = defaultdict(list)
    for job in jobs:
        by_workspace[job.message.workspace_id].append(job)
    decided: dict[MessageKey, Decision] = {}
    for workspace_id, mine in by_workspace.items():
        tz, rules = _workspace_rules(workspace_id)
        recipients = [repo_fatigue.Recipient(message_key=message_id(job.key), user_id=job.recipient.user_id,
                                             channel=job.message.channel, address=job.recipient.to,
                                             exempt=job.message.transactional) for job in mine]
        decisions = admission.admit_batch(workspace_id, tz, rules, recipients, now)
        for job in mine:
            decided[job.key] = _translate(decisions[message_id(job.key)])
    return decided
