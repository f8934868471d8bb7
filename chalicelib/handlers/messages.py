"""Reading a queue record as one of the queue's message types, for every handler.

A record that can never succeed (not JSON, an unknown type, a malformed message) is not
guessed at and not retried: it is dead-lettered at once with the reason, and logged at
error level. The handlers then see only valid messages."""
from __future__ import annotations

from typing import TypeVar

from pydantic import TypeAdapter, ValidationError

from chalicelib import aws, logs

T = TypeVar("T")


def parse_or_dead_letter(adapter: TypeAdapter[T], body: str, queue: str, what: str = "message") -> T | None:
    """The message, or None after dead-lettering the body with the reason."""
    try:
        return adapter.validate_json(body)
    except ValidationError as error:
        reason = f"not a {what} the {queue} queue understands: " + "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in error.errors()[:5])
        logs.logger.error(f"{what} dead-lettered", extra={"reason": reason, "body": body[:500]})
        aws.dead_letter(queue, body, reason)
        return None

