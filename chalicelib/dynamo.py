"""Small DynamoDB helpers over PynamoDB: the shared transaction connection, multi-table
BatchGetItem, chunked deletes, backoff, and the rule for lost optimistic races."""
from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, TypeVar

from pynamodb.connection import Connection
from pynamodb.exceptions import DeleteError, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from chalicelib import aws
from chalicelib.config import settings

T = TypeVar("T")
R = TypeVar("R")
W = TypeVar("W")
RETRYABLE_REASONS = {"ConditionalCheckFailed", "TransactionConflict"}


@lru_cache(maxsize=1)
def connection() -> Connection:
    """The PynamoDB connection for transactions, built once per process (a new one per
    transaction builds a botocore session and client each time: ~100 ms)."""
    return Connection(region=settings.region, max_retry_attempts=5)


def transaction() -> TransactWrite:
    return TransactWrite(connection=connection())


def chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def batch_get(requests: dict[str, list[dict[str, Any]]], projection: dict[str, str] | None = None,
              consistent: bool = True, names: dict[str, str] | None = None) -> dict[str, list[dict[str, Any]]]:
    """BatchGetItem over several tables at once (<= 100 keys per call), following
    UnprocessedKeys with backoff. Returns raw items per table name."""
    found: dict[str, list[dict[str, Any]]] = {table: [] for table in requests}
    pending = [(table, k) for table, keys in requests.items() for k in keys]
    for part in chunks(pending, 100):
        request: dict[str, Any] = {}
        for table, k in part:
            entry = request.setdefault(table, {"Keys": [], "ConsistentRead": consistent})
            if projection and table in projection:
                entry["ProjectionExpression"] = projection[table]
                if names:
                    entry["ExpressionAttributeNames"] = names
            entry["Keys"].append(k)
        attempt = 0
        while request:
            answer = aws.dynamodb().batch_get_item(RequestItems=request)
            for table, items in answer.get("Responses", {}).items():
                found[table].extend(items)
            request = answer.get("UnprocessedKeys") or {}
            if request:
                attempt += 1
                backoff(attempt)
    return found


def batch_delete(table: str, keys: Iterable[dict[str, Any]]) -> int:
    """BatchWriteItem deletes, 25 per call, retrying unprocessed items with backoff
    (PynamoDB's batch_write retries without backoff and gives up after three tries)."""
    return _batch_write(table, [{"DeleteRequest": {"Key": k}} for k in keys])


def batch_put(table: str, items: Iterable[dict[str, Any]]) -> int:
    """BatchWriteItem puts (raw items), 25 per call, unprocessed ones retried with backoff."""
    return _batch_write(table, [{"PutRequest": {"Item": i}} for i in items])


def _batch_write(table: str, requests: list[dict[str, Any]]) -> int:
    for part in chunks(requests, 25):
        request: dict[str, Any] = {table: list(part)}
        attempt = 0
        while request:
            answer = aws.dynamodb().batch_write_item(RequestItems=request)
            request = answer.get("UnprocessedItems") or {}
            if request:
                attempt += 1
                backoff(attempt)
    return len(requests)


def backoff(attempt: int, base: float = 0.05, cap: float = 2.0) -> None:
    """Full-jitter exponential backoff."""
    time.sleep(random.uniform(0, min(cap, base * 2 ** attempt)))


class LostRace(Exception):
    """A conditional write lost to a concurrent writer: re-read and try again."""


def is_retryable(error: TransactWriteError) -> bool:
    """A cancelled transaction that a re-read and retry can fix (a lost optimistic race)."""
    if error.cause_response_code == "TransactionConflictException":
        return True
    reasons = [r.code for r in (error.cancellation_reasons or []) if r is not None and r.code != "None"]
    return bool(reasons) and all(code in RETRYABLE_REASONS for code in reasons)


def read_decide_write(read: Callable[[], R], decide: Callable[[R], W], write: Callable[[W, R], bool], *,
                      busy: str, tries: int = 5) -> W:
    """Optimistic concurrency: read, decide (pure; may raise), write conditioned on what was
    read; a lost condition reads and decides again. After ``tries`` lost races, 503 with
    Retry-After (``busy`` says what was contended)."""
    from chalicelib.errors import Unavailable

    for attempt in range(tries):
        current = read()
        decided = decide(current)
        if write(decided, current):
            return decided
        backoff(attempt)
    raise Unavailable(f"{busy} is being changed concurrently; try again", retry_after=1)


def save_if(item: Any, condition: Any) -> bool:
    """Put a PynamoDB item if ``condition`` holds; False when it did not (someone else wrote)."""
    try:
        with lost_race_on_conflict():
            item.save(condition=condition)
        return True
    except LostRace:
        return False


def delete_if(item: Any, condition: Any) -> bool:
    """Delete a PynamoDB item if ``condition`` holds; False when it did not."""
    try:
        with lost_race_on_conflict():
            item.delete(condition=condition)
        return True
    except LostRace:
        return False


@contextmanager
def lost_race_on_conflict() -> Iterator[None]:
    """Turn a failed condition (put, update, delete or transaction) into ``LostRace``."""
    try:
        yield
    except TransactWriteError as error:
        if is_retryable(error):
            raise LostRace(str(error)) from None
        raise
    except (PutError, UpdateError, DeleteError) as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise LostRace(str(error)) from None
        raise

