"""A provider's rate limit (messages per second, across every concurrent sender), decided
without I/O: which fixed window a moment falls in, how many permits it holds, and how
many of those asked for a provider batch were granted.

Permits are taken with one write per provider batch (``repo_rate.take``): the window's
counter is raised by the number asked, under the condition that it is still below the
window's permits, and the counter's new value says which of them fit. DynamoDB applies
the updates one at a time, so the positions handed out in a window are distinct and only
those up to the limit are granted: never more than the limit is sent in a window, however
many senders ask at once. A counter past the limit only means permits were asked for and
refused; those messages wait for a later window.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

EPSILON = 1e-9


@dataclass(frozen=True)
class Window:
    """A fixed window of whole seconds since the epoch, and the messages it allows."""

    start: int      # unix seconds
    seconds: int
    permits: int

    @property
    def end(self) -> int:
        return self.start + self.seconds


def window_for(rate: float, now: datetime) -> Window:
    """The window ``now`` falls in, for ``rate`` messages per second.

    One second at rates of 1 and more (``floor(rate)`` permits: 2.5/s allows 2 a second,
    never 3); below 1, the shortest whole number of seconds that allows one message
    (0.5/s: one every 2 s; 0.3/s: one every 4 s)."""
    if rate <= 0:
        raise ValueError("a rate limit is a positive number of messages per second")
    seconds = 1 if rate >= 1 else math.ceil(1 / rate - EPSILON)
    permits = max(1, math.floor(rate * seconds + EPSILON))
    start = math.floor(now.timestamp() / seconds) * seconds
    return Window(int(start), seconds, permits)


def granted(asked: int, counted: int, permits: int) -> int:
    """How many of ``asked`` permits fit, when adding them brought the window's counter to
    ``counted``: they held positions ``counted - asked + 1`` to ``counted``."""
    return max(0, min(asked, permits - (counted - asked)))


def retry_delay(window: Window, now: datetime) -> int:
    """Seconds a refused message waits: until its window ends (at least 1, SQS's unit)."""
    return max(1, math.ceil(window.end - now.timestamp()))
