"""The sender: each message of a sends batch is sent at most once, and recorded.

Per batch of queue records:

1. read every message's record (BatchGetItem) and decide per message
   (``messages.decide_claim``): already decided -> nothing; held by a live claim -> look
   again when its lease ends; held by a dead claim -> resend with the same idempotency key
   (providers that take one) or fail as "outcome unknown" (providers that do not);
2. new messages go through the steps (rendering, consent, fatigue: ``STEPS``), each a
   batched read and a pure ``Decision`` per message: send, drop (recorded with its
   status and reason), or defer (re-queued with a delay);
3. per provider batch: take permits under the provider's rate limit (one conditional
   write; messages without a permit are retried when the window ends, unclaimed), claim
   each message (conditional write), call the provider once for the messages claimed,
   write each outcome (sent with id and cost, failed with the provider's reason, or
   released for a retry: a plain conditional update each), then count the batch's
   outcomes in one transaction (a crash before it: the redelivery counts them, once).

A record is reported for redelivery (``Report.retry``, seconds to wait) when any of its
messages was retryable, lost a claim race, or waits for a live claim. An exception from a
provider is a crash: it propagates, and the claims it leaves are settled by the lease.
"""
from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from chalicelib import clock, logs
from chalicelib.providers import base as providers
from chalicelib.sending import messages as rules
from chalicelib.profiles import repo as profiles_repo
from chalicelib.sending import addresses, rate_limit, rendering, repo_providers, repo_rate
from chalicelib.sending import repo_messages as repo
from chalicelib.sending.messages import Decision, Defer, Drop, MessageKey, Send
from chalicelib.sending.providers_config import ProviderRecord
from chalicelib.sending.queue import Recipient, SendMessage, enqueue

LOST_CLAIM_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Job:
    """One message of one queue record."""

    record_id: str
    receive_count: int
    message: SendMessage
    recipient: Recipient

    @property
    def key(self) -> MessageKey:
        return self.message.key(self.recipient)


class Step(Protocol):
    """A check before the claim: read what it needs for the whole batch in one call, then
    decide per message with a pure function. Must be idempotent per message key (it may
    see a message again after a retryable provider error or a deferral)."""

    def __call__(self, jobs: Sequence[Job], now: datetime) -> Mapping[MessageKey, Decision]: ...


# In order (rendering, from a template, comes next): consent, suppression, quiet hours and
# the fatigue cap (steps.admit). A message goes on when every step says Send; the first
# Drop or Defer decides.
STEPS: list[Step] = []


@dataclass
class Report:
    retry: dict[str, int] = field(default_factory=dict)   # record id -> seconds to wait
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def later(self, jobs: Sequence[Job], seconds: int) -> None:
        for job in jobs:
            self.retry[job.record_id] = max(seconds, self.retry.get(job.record_id, 0))


def _meta(job: Job, fatigue_counter: str | None = None) -> repo.Meta:
    return repo.Meta(job.recipient.user_id, job.message.channel, job.message.provider.name,
                     job.message.provider.kind or "unknown", job.message.campaign_id, fatigue_counter)


def _group_key(job: Job) -> tuple[str, str, str, str, str]:
    m = job.message
    return (m.workspace_id, m.channel, m.provider.name, m.provider.kind or "", json.dumps(m.provider.settings, sort_keys=True))


def send_batch(jobs: Sequence[Job], now: datetime, *, steps: Sequence[Step] | None = None) -> Report:
    """Send a batch's messages at most once each; returns which records to retry."""
    report = Report()
    jobs = _with_providers(jobs, now, report)
    by_key: dict[MessageKey, list[Job]] = defaultdict(list)
    for job in jobs:
        by_key[job.key].append(job)  # the same message twice in one batch is one message
    records = repo.read(list(by_key), consistent=False)
    profiles = _read_profiles(by_key, records)
    unaddressed = _address(by_key, profiles)
    groups: dict[tuple[str, ...], list[MessageKey]] = defaultdict(list)
    for key, same in by_key.items():
        groups[_group_key(same[0])].append(key)
    for keys in groups.values():
        _send_group(keys, by_key, records, now, report, STEPS if steps is None else steps,
                    Batch(profiles, unaddressed))
    return report


Profiles = dict[tuple[str, str], profiles_repo.ProfileRecord]


@dataclass(frozen=True)
class Batch:
    """What the sender read once for the whole batch: the profiles its messages need
    (by workspace and user id; absent: no profile) and why some messages have no address."""

    profiles: Profiles = field(default_factory=dict)
    unaddressed: dict[MessageKey, str] = field(default_factory=dict)


def _needs_profile(job: Job) -> bool:
    return job.message.template_id is not None or (job.recipient.to is None
                                                   and addresses.needs_address(job.message.channel))


def _read_profiles(by_key: Mapping[MessageKey, list[Job]], records: Mapping[MessageKey, rules.Record]) -> Profiles:
    """The profiles of the batch's undecided messages that need one (an address to find, or
    a template to render): one BatchGetItem per workspace (per 100 users), shared by the
    address lookup and rendering."""
    users: dict[str, set[str]] = defaultdict(set)
    for key, same in by_key.items():
        record = records.get(key)
        if (record is None or record.status not in rules.FINAL) and _needs_profile(same[0]):
            users[key.workspace_id].add(same[0].recipient.user_id)
    found: Profiles = {}
    for workspace_id, wanted in users.items():
        # Eventually consistent: a profile changed in the last second may be read as it was.
        for user_id, profile in profiles_repo.read_profiles(workspace_id, sorted(wanted), consistent=False).items():
            found[(workspace_id, user_id)] = profile
    return found


def _address(by_key: dict[MessageKey, list[Job]], profiles: Profiles) -> dict[MessageKey, str]:
    """Fill in the address of messages sent without one, from the profile for the channel;
    returns the messages that have none, with the reason (they fail, unsent)."""
    unaddressed: dict[MessageKey, str] = {}
    for key, same in by_key.items():
        job = same[0]
        if job.recipient.to is not None or not addresses.needs_address(job.message.channel):
            continue
        profile = profiles.get((key.workspace_id, job.recipient.user_id))
        found = addresses.resolve(job.message.channel, job.recipient.user_id,
                                  profile.channels if profile is not None else None)
        if isinstance(found, addresses.Unaddressed):
            unaddressed[key] = found.reason
        elif found is not None:
            recipient = job.recipient.model_copy(update={"to": found})
            by_key[key] = [Job(j.record_id, j.receive_count, j.message, recipient) for j in same]
    return unaddressed


def _with_providers(jobs: Sequence[Job], now: datetime, report: Report) -> list[Job]:
    """Jobs whose provider is named only, with the account's kind and settings from the
    registry (one GetItem per account in the batch); messages for an account that does
    not exist, or does not send their channel, fail with the reason."""
    accounts: dict[tuple[str, str], ProviderRecord | None] = {}
    ready: list[Job] = []
    failed: list[repo.DropWrite] = []
    for job in jobs:
        ref = job.message.provider
        if ref.kind is not None:
            ready.append(job)
            continue
        account_key = (job.message.workspace_id, ref.name)
        if account_key not in accounts:
            accounts[account_key] = repo_providers.get(*account_key)
        account = accounts[account_key]
        if account is None or account.channel != job.message.channel:
            reason = (f"no provider account {ref.name}" if account is None
                      else f"provider {ref.name} sends {account.channel}, not {job.message.channel}")
            failed.append(repo.DropWrite(job.key, repo.Meta(job.recipient.user_id, job.message.channel, ref.name,
                                                            account.kind if account else "unknown"),
                                         "failed", reason, now))
            continue
        settings = {**account.settings, **{name: value for name, value in (
            ("rate_limit", account.rate_limit), ("batch_size", account.batch_size),
            ("cost_per_message", account.cost_per_message), ("endpoint", account.endpoint)) if value is not None}}
        resolved = job.message.model_copy(update={"provider": ref.model_copy(update={
            "kind": account.kind, "settings": settings})})
        ready.append(Job(job.record_id, job.receive_count, resolved, job.recipient))
    for write, done in zip(failed, repo.drop_many(failed)):
        report.counts["no_provider" if done else "already_recorded"] += 1
    return ready


def _send_group(keys: list[MessageKey], by_key: Mapping[MessageKey, list[Job]], records: Mapping[MessageKey, rules.Record],
                now: datetime, report: Report, steps: Sequence[Step], batch: Batch | None = None) -> None:
    batch = batch or Batch()
    config = by_key[keys[0]][0].message.config()
    provider = providers.build(config)
    fresh: list[MessageKey] = []
    claimable: list[MessageKey] = []
    give_up: list[repo.GiveUpWrite] = []
    uncounted: list[MessageKey] = []
    for key in keys:
        record = records.get(key)
        decision = rules.decide_claim(record, idempotent_provider=provider.supports_idempotency_key, now=now)
        if isinstance(decision, rules.Done):
            report.counts["already_" + decision.status] += 1
            if record is not None and record.count_batch:
                uncounted.append(key)
        elif isinstance(decision, rules.Wait):
            report.counts["held"] += 1
            report.later(by_key[key], decision.seconds)
        elif isinstance(decision, rules.GiveUp):
            assert record is not None
            give_up.append(repo.GiveUpWrite(key, record, decision.reason, now))
        elif isinstance(decision, rules.Claim) and decision.version is None:
            fresh.append(key)
        else:  # Claim of a released message, or Resend after a crash: same key, same call
            claimable.append(key)
    _recover_counts(uncounted, by_key, records, now, report)
    fresh, claimable = _fail_unaddressed(fresh, claimable, by_key, records, batch.unaddressed, now, report)
    for write, done in zip(give_up, repo.parallel(repo.give_up, give_up)):
        report.counts["outcome_unknown" if done else "lost_race"] += 1
        if not done:
            report.later(by_key[write.key], LOST_CLAIM_RETRY_SECONDS)
    admitted = _apply_steps(fresh, by_key, now, report, steps)
    holds = {key: counter for key, counter in admitted.items() if counter}
    claimable += list(admitted)
    contents = _render(claimable, by_key, records, now, report, holds, batch.profiles)
    claimable = [k for k in claimable if k in contents]
    size = provider.batch_size
    for start in range(0, len(claimable), size):
        _claim_call_record(provider, claimable[start:start + size], by_key, records, now, report, contents, holds)


def _recover_counts(keys: list[MessageKey], by_key: Mapping[MessageKey, list[Job]],
                    records: Mapping[MessageKey, rules.Record], now: datetime, report: Report) -> None:
    """Messages already recorded whose provider batch may not have been counted (a crash
    between the outcome writes and the counting transaction): read their batches' items;
    count, once, those neither counted with their batch nor one by one since. A batch
    recorded less than a lease ago may still be counted by its own invocation: look again
    when the lease ends."""
    if not keys:
        return
    by_batch: dict[str, list[MessageKey]] = defaultdict(list)
    for key in keys:
        by_batch[records[key].count_batch or ""].append(key)
    states = repo.read_batches(keys[0].workspace_id, list(by_batch))
    for token, mine in by_batch.items():
        state = states.get(token)
        if state is not None and state.recorded:
            continue
        todo = [k for k in mine if state is None or repo.message_digest(k) not in state.counted_keys]
        if not todo:
            continue
        waits = [rules.count_wait(records[k], now) for k in todo]
        if any(waits):
            report.counts["count_pending"] += len(todo)
            for key in todo:
                report.later(by_key[key], max(waits))
            continue
        if repo.recover_counts(keys[0].workspace_id, token, [(k, records[k]) for k in todo], now):
            report.counts["counted_after_crash"] += len(todo)
        else:  # counted meanwhile by its batch or another redelivery: look again
            report.counts["count_race"] += len(todo)
            for key in todo:
                report.later(by_key[key], LOST_CLAIM_RETRY_SECONDS)


def _fail_unaddressed(fresh: list[MessageKey], claimable: list[MessageKey], by_key: Mapping[MessageKey, list[Job]],
                      records: Mapping[MessageKey, rules.Record], unaddressed: Mapping[MessageKey, str], now: datetime,
                      report: Report) -> tuple[list[MessageKey], list[MessageKey]]:
    """Fail, with the reason, the messages whose profile has no address for their channel
    (before admission: nothing to check consent or suppression against, no fatigue place
    taken); returns the others."""
    if not unaddressed:
        return fresh, claimable
    drops = [repo.DropWrite(k, _meta(by_key[k][0]), "failed", unaddressed[k], now) for k in fresh if k in unaddressed]
    give_ups = [repo.GiveUpWrite(k, records[k], unaddressed[k], now) for k in claimable if k in unaddressed]
    writes: list[repo.DropWrite | repo.GiveUpWrite] = [*drops, *give_ups]
    for write, done in zip(writes, [*repo.drop_many(drops), *repo.parallel(repo.give_up, give_ups)]):
        report.counts["no_address" if done else "lost_race"] += 1
        if not done:
            report.later(by_key[write.key], LOST_CLAIM_RETRY_SECONDS)
    return [k for k in fresh if k not in unaddressed], [k for k in claimable if k not in unaddressed]


def _render(keys: list[MessageKey], by_key: Mapping[MessageKey, list[Job]], records: Mapping[MessageKey, rules.Record],
            now: datetime, report: Report, holds: Mapping[MessageKey, str],
            profiles: Profiles | None = None) -> dict[MessageKey, dict[str, Any]]:
    """Each message's content (rendered from its template right before the claim, so a
    retry or a resend renders it again); a message that cannot be rendered fails with the
    reason, recorded once, and is not sent."""
    rendered = rendering.render_jobs([by_key[k][0] for k in keys], now, profiles=profiles)
    contents: dict[MessageKey, dict[str, Any]] = {}
    drops: list[repo.DropWrite] = []
    give_ups: list[repo.GiveUpWrite] = []
    for key in keys:
        outcome = rendered[key]
        if isinstance(outcome, rendering.Failed):
            record = records.get(key)
            if record is None:
                drops.append(repo.DropWrite(key, _meta(by_key[key][0]), "failed", outcome.reason, now))
            else:
                give_ups.append(repo.GiveUpWrite(key, record, outcome.reason, now))
        else:
            contents[key] = outcome
    writes: list[repo.DropWrite | repo.GiveUpWrite] = [*drops, *give_ups]
    failed_now = []
    for write, done in zip(writes, [*repo.drop_many(drops), *repo.parallel(repo.give_up, give_ups)]):
        report.counts["render_failed" if done else "lost_race"] += 1
        if not done:  # another delivery wrote the record meanwhile: look again shortly
            report.later(by_key[write.key], LOST_CLAIM_RETRY_SECONDS)
        else:
            failed_now.append(write.key)
    _release_fatigue(failed_now, by_key, records, holds, report)
    return contents


def _apply_steps(fresh: list[MessageKey], by_key: Mapping[MessageKey, list[Job]], now: datetime,
                 report: Report, steps: Sequence[Step]) -> dict[MessageKey, str | None]:
    """Deferral and the steps' decisions for messages never seen before; returns those to
    send, each with the fatigue counter it took a place in (None: none)."""
    decided: dict[MessageKey, Decision] = {}
    holds: dict[MessageKey, str] = {}
    for key in fresh:
        not_before = by_key[key][0].message.not_before
        if not_before is not None and not_before > now:
            decided[key] = Defer(not_before, "not before its time")
    for step in steps:
        pending = [by_key[k][0] for k in fresh if k not in decided]
        if not pending:
            break
        for key, decision in step(pending, now).items():
            if not isinstance(decision, Send):
                decided.setdefault(key, decision)
            elif decision.fatigue_counter:
                holds[key] = decision.fatigue_counter
    drops = [repo.DropWrite(k, _meta(by_key[k][0]), d.status, d.reason, now)
             for k, d in decided.items() if isinstance(d, Drop)]
    for write, done in zip(drops, repo.drop_many(drops)):
        report.counts[write.status if done else "lost_race"] += 1
        if not done:
            report.later(by_key[write.key], LOST_CLAIM_RETRY_SECONDS)
    deferred = [(k, d.until) for k, d in decided.items() if isinstance(d, Defer)]
    if deferred:
        _requeue(deferred, by_key, now)
        report.counts["deferred"] += len(deferred)
    return {k: holds.get(k) for k in fresh if k not in decided}


def _requeue(later: Sequence[tuple[MessageKey, datetime]], by_key: Mapping[MessageKey, list[Job]], now: datetime) -> None:
    """Put messages back on the queue as new records, not before their time: the
    recipients of one record and one time travel together (one SQS message, not one each)."""
    grouped: dict[tuple[str, datetime], list[Job]] = defaultdict(list)
    for key, until in later:
        job = by_key[key][0]
        grouped[(job.record_id, until)].append(job)
    enqueue([jobs[0].message.model_copy(update={"recipients": [j.recipient for j in jobs], "not_before": until})
             for (_, until), jobs in grouped.items()], now)


def _claim_call_record(provider: providers.Provider, keys: Sequence[MessageKey], by_key: Mapping[MessageKey, list[Job]],
                       records: Mapping[MessageKey, rules.Record], now: datetime, report: Report,
                       contents: Mapping[MessageKey, dict[str, Any]], holds: Mapping[MessageKey, str]) -> None:
    """Claim, one provider call for what was claimed, and the outcomes: the crash window is
    between ``provider.send`` returning and ``repo.record_outcome`` for each message."""
    keys = _within_rate_limit(provider, keys, by_key, report)
    if not keys:
        return
    lease = rules.lease_until(now)
    batch = uuid.uuid4().hex  # this provider call: its outcomes are counted together, once
    together = provider.receipts_name_message_key  # and the accepted ones recorded together
    claims = [repo.ClaimWrite(k, _meta(by_key[k][0], holds.get(k)), uuid.uuid4().hex, lease, now, records.get(k),
                              batch if together else None) for k in keys]
    won = [c for c, ok in zip(claims, repo.parallel(repo.claim, claims)) if ok]
    for lost in (c for c in claims if c not in won):
        report.counts["lost_race"] += 1
        report.later(by_key[lost.key], LOST_CLAIM_RETRY_SECONDS)
    if not won:
        return
    outgoing = [_outgoing(by_key[c.key][0], c.key, contents[c.key]) for c in won]
    results = provider.send(outgoing)
    if len(results) != len(outgoing):
        raise RuntimeError(f"provider {provider.kind} answered {len(results)} results for {len(outgoing)} messages")
    at = clock.iso(now)
    writes = []
    for claim, result in zip(won, results):
        previous = records.get(claim.key)
        history = rules.with_history(previous.history if previous else (), rules.CLAIMED, at, None)
        cost = result.cost if result.cost is not None else provider.config.cost_per_message
        written = rules.after_call(history, result.outcome, at, reason=result.reason,
                                   provider_message_id=result.provider_message_id, cost=cost)
        writes.append(repo.OutcomeWrite(claim.key, claim.token, written, provider.name, now,
                                        claim.meta.campaign_id, previous.counted if previous else frozenset(), batch,
                                        not together))
        if written.status == "queued":
            job = by_key[claim.key][0]
            report.later(by_key[claim.key], rules.retry_delay(job.receive_count, result.retry_after))
    recorded = _record_outcomes(provider, batch, writes, lease, now, report)
    failed_now = [w.key for w in recorded if w.written.status == "failed"]
    # The "recorded, not counted" window: a crash here leaves outcomes naming this batch
    # that a redelivery counts (``_recover_counts``); so does an invocation too late to be
    # sure its claims are still its own (nothing per message guards the outcomes item).
    if (together and not rules.claims_still_ours(lease, clock.now())) or \
            not repo.count_outcomes(provider.config.workspace_id, batch, recorded, now):
        report.counts["count_by_redelivery"] += len(recorded)
        for write in recorded:
            report.later(by_key[write.key], LOST_CLAIM_RETRY_SECONDS)
    _release_fatigue(failed_now, by_key, records, holds, report)
    logs.logger.info("provider batch", extra={"provider": provider.name, "kind": provider.kind,
                                              "messages": len(won), "claims_lost": len(claims) - len(won)})


def _record_outcomes(provider: providers.Provider, batch: str, writes: Sequence[repo.OutcomeWrite], lease: datetime,
                     now: datetime, report: Report) -> list[repo.OutcomeWrite]:
    """Write the provider's answers; returns those recorded. For a provider whose receipts
    name our key, the accepted messages are one item for the call (while the claims are
    surely ours); every other answer is a conditional write on its message."""
    one_by_one = list(writes)
    recorded: list[repo.OutcomeWrite] = []
    if provider.receipts_name_message_key and rules.claims_still_ours(lease, clock.now()):
        accepted = [w for w in writes if w.written.status == "sent"]
        if accepted:
            repo.record_accepted(provider.config.workspace_id, batch, provider.kind, accepted, now)
            report.counts["sent"] += len(accepted)
            recorded += accepted
            one_by_one = [w for w in writes if w.written.status != "sent"]
    for write, done in zip(one_by_one, repo.record_outcomes(one_by_one)):
        report.counts[write.written.status if done else "lost_claim"] += 1
        if done:
            recorded.append(write)
    return recorded


def _within_rate_limit(provider: providers.Provider, keys: Sequence[MessageKey],
                       by_key: Mapping[MessageKey, list[Job]], report: Report) -> Sequence[MessageKey]:
    """The messages of a provider batch the provider's rate limit lets through now (all,
    without a limit): one conditional write takes the permits. The others are not claimed
    and their records are retried when the window ends."""
    rate = provider.config.rate_limit
    if rate is None:
        return keys
    now = clock.now()  # the moment of the call, not the batch's start: windows are real seconds
    window = rate_limit.window_for(rate, now)
    permitted = repo_rate.take(provider.config.workspace_id, provider.name, window, len(keys))
    refused = keys[permitted:]
    if refused:
        # Back on the queue as new records for the next window (not retried through
        # receives: a long backlog behind a low limit would reach the DLQ's receive count).
        until = now + timedelta(seconds=rate_limit.retry_delay(window, now))
        _requeue([(key, until) for key in refused], by_key, now)
        report.counts["rate_limited"] += len(refused)
    return keys[:permitted]


def _release_fatigue(failed: Sequence[MessageKey], by_key: Mapping[MessageKey, list[Job]],
                     records: Mapping[MessageKey, rules.Record], holds: Mapping[MessageKey, str], report: Report) -> None:
    """Give back the fatigue places of messages that failed for good (never sent): a crash
    before this leaves the place taken, which costs the user one message of the period."""
    from chalicelib.sending import repo_fatigue, steps  # steps imports this module

    for key in failed:
        record = records.get(key)
        counter = holds.get(key) or (record.fatigue_counter if record else None)
        if counter and repo_fatigue.release_slot(key.workspace_id, by_key[key][0].recipient.user_id, counter,
                                                 steps.message_id(key)):
            report.counts["fatigue_released"] += 1


def _outgoing(job: Job, key: MessageKey, content: dict[str, Any]) -> providers.Outgoing:
    return providers.Outgoing(
        workspace_id=key.workspace_id, message_key=str(key), idempotency_key=key.idempotency_key,
        user_id=job.recipient.user_id, channel=job.message.channel, to=job.recipient.to, content=content,
    )



def _default_steps() -> None:
    from chalicelib.sending import steps  # it imports this module's types
    from chalicelib.tasks import gate  # a cancelled task's messages are never sent

    STEPS.append(gate.task_active)
    STEPS.append(steps.admit)


_default_steps()
