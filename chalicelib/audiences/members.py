"""Members stored packed: sorted pages of user ids, many per item (pure, no I/O).

A page is the user ids of one range, in ascending order (code point order, which is
also the UTF-8 byte order DynamoDB sorts keys by), joined by newlines (a user id holds
no control character) and compressed with zlib. A page holds at most ``MAX_IDS`` ids and
``MAX_RAW_BYTES`` of joined text, so the stored item stays far below DynamoDB's 400 KB
whatever the ids (user ids are at most 128 characters: 1,000 of them are at most 513 KB
of UTF-8 before the byte bound cuts the page, 64 KB after it, less compressed).

Segments of a build each write sorted runs; ``merge`` joins runs into one ascending
stream and ``pack`` cuts a stream into pages, holding one page at a time.
"""
from __future__ import annotations

import heapq
import zlib
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence

MAX_IDS = 1000
MAX_RAW_BYTES = 64 * 1024
SEPARATOR = "\n"
_LEVEL = 6


def raw_size(user_id: str) -> int:
    """Bytes one id takes in a page before compression (its UTF-8 and a separator)."""
    return len(user_id.encode("utf-8")) + 1


def pack(sorted_ids: Iterable[str], max_ids: int = MAX_IDS, max_bytes: int = MAX_RAW_BYTES) -> Iterator[list[str]]:
    """Cut an ascending stream of distinct ids into pages of at most ``max_ids`` ids and
    ``max_bytes`` raw bytes; a page is never empty. Raises ValueError on an id out of order
    or repeated (the stream must come from ``sorted(set(...))`` or ``merge``)."""
    if max_ids < 1 or max_bytes < raw_size("x" * 128) * 4:
        raise ValueError("a page must hold at least one id and several of the longest ids")
    page: list[str] = []
    size = 0
    previous: str | None = None
    for user_id in sorted_ids:
        if SEPARATOR in user_id or not user_id:
            raise ValueError("a user id is not empty and holds no line break")
        if previous is not None and user_id <= previous:
            raise ValueError("ids must arrive in ascending order without repeats")
        previous = user_id
        need = raw_size(user_id)
        if page and (len(page) == max_ids or size + need > max_bytes):
            yield page
            page, size = [], 0
        page.append(user_id)
        size += need
    if page:
        yield page


def encode(page: Sequence[str]) -> bytes:
    """A page's stored form."""
    return zlib.compress(SEPARATOR.join(page).encode("utf-8"), _LEVEL)


def decode(blob: bytes) -> list[str]:
    text = zlib.decompress(blob).decode("utf-8")
    return text.split(SEPARATOR) if text else []


def merge(runs: Iterable[Iterable[str]]) -> Iterator[str]:
    """One ascending stream of distinct ids from ascending runs (lazy: one id per run held)."""
    previous: str | None = None
    for user_id in heapq.merge(*runs):
        if user_id != previous:
            yield user_id
            previous = user_id


def present(page: Sequence[str], candidates: Iterable[str]) -> set[str]:
    """The candidates that are in this (ascending) page: a binary search each."""
    found = set()
    for user_id in candidates:
        at = bisect_left(page, user_id)
        if at < len(page) and page[at] == user_id:
            found.add(user_id)
    return found


def page_index(first_ids: Sequence[str], user_id: str) -> int | None:
    """Which page (by ascending first ids) could hold ``user_id``; None if it sorts before all."""
    at = bisect_right(first_ids, user_id) - 1
    return at if at >= 0 else None
