"""The receipts queue's work: apply a batch of receipts to their messages, once.

Per batch: find every receipt's message by provider message id, read them (one
BatchGetItem), fold each message's receipts into one change (``apply``, pure), put bounced
and complained addresses on the suppression list (idempotent, before the status write so
that a crash between the two repeats only the suppression), and write each change with its
counters (``repo.write_all``: the batch's changes in one transaction, each conditioned on
the version read, the increments summed per owner; a message changed meanwhile is read
and decided again). Redelivering a batch finds everything already applied and writes nothing.

A receipt whose message is not found yet (it can arrive before the sender's outcome write)
is put back on the queue with a growing delay, ``MAX_ATTEMPTS`` times, then dropped with a
log line.

Receipts addressed by message key (``apply_keyed``: clicks on per-recipient short links,
and a provider's receipts that name our key, the sandbox's, only for that provider's
messages) skip the lookup by provider id; one whose message is not recorded as sent yet (still
claimed: the click came between the provider call and the outcome write) is put back the
same way, so the sender's outcome write is never beaten to the record.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib import clock, dynamo, logs
from chalicelib.providers import sandbox
from chalicelib.receipts import apply as rules
from chalicelib.receipts import queue
from chalicelib.receipts import repo
from chalicelib.receipts.queue import KeyedReceipt, MessageReceipts, QueuedReceipt, ReceiptsMessage
from chalicelib.sending.messages import FINAL
from chalicelib.sending import repo_fatigue

MAX_ATTEMPTS = 5          # puts back of an unmatched receipt: 30 s, 1, 2, 4, 8 min
RETRY_BASE_SECONDS = 30
WRITE_TRIES = 5


@dataclass
class Applied:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def retry_delay(attempt: int) -> int:
    return min(queue.MAX_DELAY_SECONDS, RETRY_BASE_SECONDS * 2 ** attempt)


def apply_batch(messages: Sequence[ReceiptsMessage], now: datetime) -> Applied:
    """Apply the receipts of a batch of queue messages (see the module's docstring)."""
    done = Applied()
    by_account: dict[tuple[str, str], list[tuple[QueuedReceipt, int]]] = defaultdict(list)
    for message in messages:
        for receipt in message.receipts:
            by_account[(message.workspace_id, message.provider)].append((receipt, message.attempt))
    for (workspace_id, provider), receipts in by_account.items():
        _apply_account(workspace_id, provider, receipts, now, done)
    return done


def _apply_account(workspace_id: str, provider: str, receipts: list[tuple[QueuedReceipt, int]], now: datetime,
                   done: Applied) -> None:
    receipts = _by_key_inside_id(workspace_id, provider, receipts, now, done)
    if not receipts:
        return
    keys = repo.find(workspace_id, provider, [r.provider_message_id for r, _ in receipts])
    unmatched = [(r, attempt) for r, attempt in receipts if r.provider_message_id not in keys]
    _put_back(workspace_id, provider, unmatched, done)
    per_message: dict[tuple[str, str], list[rules.Incoming]] = defaultdict(list)
    for r, _ in receipts:
        if r.provider_message_id in keys:
            per_message[keys[r.provider_message_id]].append(
                rules.Incoming(r.status, r.at, r.reason, r.address, r.url))
    _write_changes(per_message, repo.read(list(per_message)), now, done)


def _by_key_inside_id(workspace_id: str, provider: str, receipts: list[tuple[QueuedReceipt, int]], now: datetime,
                      done: Applied) -> list[tuple[QueuedReceipt, int]]:
    """Apply by key the receipts whose provider id carries our message key (the sandbox's
    ids: its messages have no ``by_provider_id`` entry); returns the others."""
    keyed: dict[int, list[KeyedReceipt]] = defaultdict(list)
    rest = []
    for receipt, attempt in receipts:
        key = sandbox.message_key_of(receipt.provider_message_id)
        if key is None:
            rest.append((receipt, attempt))
        else:
            keyed[attempt].append(KeyedReceipt(message_key=key, status=receipt.status, at=receipt.at, url=receipt.url,
                                               reason=receipt.reason, address=receipt.address))
    if keyed:
        apply_keyed([MessageReceipts(workspace_id=workspace_id, provider=provider, receipts=found[i:i + queue.MAX_PER_MESSAGE],
                                     attempt=attempt)
                     for attempt, found in keyed.items() for i in range(0, len(found), queue.MAX_PER_MESSAGE)],
                    now, done)
    return rest


def apply_keyed(messages: Sequence[MessageReceipts], now: datetime, done: Applied | None = None) -> Applied:
    """Apply receipts addressed by message key (see the module's docstring)."""
    done = done or Applied()
    by_workspace: dict[tuple[str, str | None], list[tuple[KeyedReceipt, int]]] = defaultdict(list)
    for message in messages:
        for receipt in message.receipts:
            if receipt.pk_sk[0].startswith(message.workspace_id + "#"):
                by_workspace[(message.workspace_id, message.provider)].append((receipt, message.attempt))
            else:
                done.counts["foreign_key"] += 1
    for (workspace_id, provider), receipts in by_workspace.items():
        per_message: dict[tuple[str, str], list[rules.Incoming]] = defaultdict(list)
        for r, _ in receipts:
            per_message[r.pk_sk].append(rules.Incoming(r.status, r.at, r.reason, r.address, r.url))
        current = repo.read(list(per_message))
        if provider is not None:  # a provider's receipts reach only the messages it sent
            foreign = {key for key, stored in current.items() if stored.provider != provider}
            done.counts["foreign_provider"] += len(foreign)
            current = {key: stored for key, stored in current.items() if key not in foreign}
            receipts = [(r, attempt) for r, attempt in receipts if r.pk_sk not in foreign]
            per_message = {key: found for key, found in per_message.items() if key not in foreign}
        unsent = {key for key, stored in current.items() if stored.status not in FINAL}
        later = [(r, attempt) for r, attempt in receipts if r.pk_sk in unsent]
        _put_back_keyed(workspace_id, later, done, provider)
        _write_changes({k: v for k, v in per_message.items() if k not in unsent}, current, now, done)
    return done


def _write_changes(per_message: dict[tuple[str, str], list[rules.Incoming]],
                   current: dict[tuple[str, str], rules.Stored], now: datetime, done: Applied) -> None:
    """Fold each message's receipts into one change and write them with their counters."""
    pending = list(per_message)
    for attempt in range(WRITE_TRIES):
        updates: list[tuple[tuple[str, str], rules.Change]] = []
        for key in pending:
            stored = current.get(key)
            if stored is None:
                done.counts["vanished"] += 1
                continue
            outcome = rules.apply(stored, per_message[key])
            for s in outcome.suppress:  # idempotent, and before the status write
                repo_fatigue.suppress(stored.workspace_id, s.channel, s.address, s.reason, now)
                done.counts["suppressed"] += 1
            if outcome.change is None:
                done.counts["unchanged"] += 1
            else:
                updates.append((key, outcome.change))
        written = repo.write_all([repo.update_for(current[k], change, clock.iso(now)) for k, change in updates])
        for (key, change), ok in zip(updates, written):
            if ok:
                done.counts["moved" if change.moved else "clicked_again"] += 1
        pending = [key for (key, _), ok in zip(updates, written) if not ok]
        if not pending:
            return
        dynamo.backoff(attempt)
        current.update(repo.read(pending))  # changed by another writer meanwhile: decide again
    raise RuntimeError(f"{len(pending)} message(s) kept changing while receipts were applied")


def _put_back_keyed(workspace_id: str, unsent: list[tuple[KeyedReceipt, int]], done: Applied,
                    provider: str | None = None) -> None:
    by_attempt: dict[int, list[KeyedReceipt]] = defaultdict(list)
    for receipt, attempt in unsent:
        if attempt + 1 >= MAX_ATTEMPTS:
            logs.logger.warning("receipt dropped: the message was never recorded as sent",
                                extra={"workspace_id": workspace_id, "message": receipt.message_key,
                                       "status": receipt.status, "attempts": attempt + 1})
            done.counts["dropped_unsent"] += 1
        else:
            by_attempt[attempt + 1].append(receipt)
    for attempt, receipts in by_attempt.items():
        queue.enqueue([MessageReceipts(workspace_id=workspace_id, provider=provider,
                                       receipts=receipts[i:i + queue.MAX_PER_MESSAGE],
                                       attempt=attempt) for i in range(0, len(receipts), queue.MAX_PER_MESSAGE)],
                      delay_seconds=retry_delay(attempt - 1))
        done.counts["put_back"] += len(receipts)


def _put_back(workspace_id: str, provider: str, unmatched: list[tuple[QueuedReceipt, int]], done: Applied) -> None:
    by_attempt: dict[int, list[QueuedReceipt]] = defaultdict(list)
    for receipt, attempt in unmatched:
        if attempt + 1 >= MAX_ATTEMPTS:
            logs.logger.warning("receipt dropped: no message with this provider message id",
                                extra={"workspace_id": workspace_id, "provider": provider,
                                       "provider_message_id": receipt.provider_message_id, "status": receipt.status,
                                       "attempts": attempt + 1})
            done.counts["dropped_unmatched"] += 1
        else:
            by_attempt[attempt + 1].append(receipt)
    for attempt, receipts in by_attempt.items():
        messages = [ReceiptsMessage(workspace_id=workspace_id, provider=provider, receipts=receipts[i:i + 100],
                                    attempt=attempt) for i in range(0, len(receipts), 100)]
        queue.enqueue(list(messages), delay_seconds=retry_delay(attempt - 1))
        done.counts["put_back"] += len(receipts)
