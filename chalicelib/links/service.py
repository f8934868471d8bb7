"""Short links: made through the API or per recipient while rendering, followed through
the public redirect, and each click handed on (``on_click``).

A per-recipient link names its user, message, and task or journey node, so a click on it
becomes a ``link_clicked`` event on the user's profile and a ``clicked`` receipt addressed
by the message key (at the receipts queue: the message's ``clicked`` status and the
counters).
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import Field, field_validator

from chalicelib import clock, ids, logs
from chalicelib.config import settings
from chalicelib.errors import NotFound, Unavailable
from chalicelib.events.ingest import enqueue_events
from chalicelib.events.messages import QueuedEvent
from chalicelib.links import codes
from chalicelib.links import repo
from chalicelib.links.repo import Link
from chalicelib.receipts import queue as receipts_queue
from chalicelib.receipts.queue import KeyedReceipt, MessageReceipts
from chalicelib.schemas import Request, Response

CLICK_EVENT = "link_clicked"
MAX_CODE_TRIES = 5


class ShortLinkIn(Request):
    url: str = Field(min_length=1, max_length=4 * codes.MAX_URL, description=codes.URL_WORDS)

    @field_validator("url")
    @classmethod
    def _web_url(cls, value: str) -> str:
        return codes.target(value)  # a ValueError is a 400 naming the field, in words


class ShortLinkOut(Response):
    code: str
    short_url: str
    url: str
    created_at: str
    clicks: int = 0
    first_clicked_at: str | None = None
    last_clicked_at: str | None = None


def short_url(code: str) -> str:
    return f"{settings.public_base_url}/s/{code}"


def _out(link: Link) -> ShortLinkOut:
    return ShortLinkOut(code=link.code, short_url=short_url(link.code), url=link.url, created_at=link.created_at,
                        clicks=link.clicks, first_clicked_at=link.first_clicked_at,
                        last_clicked_at=link.last_clicked_at)


def create(workspace_id: str, request: ShortLinkIn, now: datetime) -> ShortLinkOut:
    """A new short link with a random code (drawn again if taken)."""
    for _ in range(MAX_CODE_TRIES):
        link = Link(code=codes.random_code(), workspace_id=workspace_id, url=request.url, created_at=clock.iso(now))
        if repo.put_new(link):
            return _out(link)
    raise Unavailable("no free short link code was found; try again")


def get(workspace_id: str, code: str) -> ShortLinkOut:
    link = repo.get(code) if codes.is_code(code) else None
    if link is None or link.workspace_id != workspace_id:
        raise NotFound(f"no short link {code}")
    return _out(link)


# --- clicks ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Click:
    """One click on a short link, as the redirect recorded it."""

    code: str
    workspace_id: str
    url: str
    at: str
    clicks: int                       # the link's count, this click included
    unique: bool                      # the link's first click (per-recipient links: the user's first)
    user_id: str | None = None
    message_key: str | None = None
    task_id: str | None = None
    journey_id: str | None = None
    node_id: str | None = None

    @property
    def attributed(self) -> bool:
        return self.user_id is not None and self.message_key is not None


def follow(code: str, now: datetime) -> str:
    """The target of ``code``, with the click counted and handed on (404 if unknown)."""
    recorded = repo.record_click(code, now) if codes.is_code(code) else None
    if recorded is None:
        raise NotFound("no such short link")
    link, first = recorded
    click = Click(code=link.code, workspace_id=link.workspace_id, url=link.url, at=clock.iso(now), clicks=link.clicks,
                  unique=first, user_id=link.user_id, message_key=link.message_key, task_id=link.task_id,
                  journey_id=link.journey_id, node_id=link.node_id)
    try:
        on_click(click)
    except (ClientError, BotoCoreError, Unavailable):
        # The click is counted on the link; the redirect must not fail because the queue did.
        logs.logger.exception("a click could not be handed on", extra={"code": code})
    return link.url


def click_event(click: Click) -> QueuedEvent:
    """The ``link_clicked`` event on the user's profile."""
    properties: dict[str, Any] = {"url": click.url, "code": click.code, "message_key": click.message_key,
                                  "unique": click.unique}
    properties.update({name: value for name, value in (("task_id", click.task_id), ("journey_id", click.journey_id),
                                                        ("node_id", click.node_id)) if value})
    assert click.user_id is not None
    return QueuedEvent(user_id=click.user_id, event_id=ids.new_id("ev"), name=CLICK_EVENT, ts=click.at,
                       properties=properties)


def click_receipt(click: Click) -> MessageReceipts:
    """The ``clicked`` receipt of the click's message, addressed by its key (a link knows
    its message, not the provider's id for it)."""
    assert click.message_key is not None
    return MessageReceipts(workspace_id=click.workspace_id, receipts=[
        KeyedReceipt(message_key=click.message_key, status="clicked", at=click.at, url=click.url)])


def on_click(click: Click) -> None:
    """Where a click leaves this module. A per-recipient click becomes a ``link_clicked``
    event on the user's profile (events queue) and a ``clicked`` receipt of its message
    (receipts queue: the message's status ``clicked``, the click and unique-click counters)."""
    if click.attributed:
        receipts_queue.enqueue([click_receipt(click)])
        enqueue_events(click.workspace_id, [click_event(click)], clock.parse_iso(click.at))


# --- per-recipient links while rendering -------------------------------------------------------------

@lru_cache(maxsize=1)
def _code_key() -> bytes:
    """The key of per-recipient codes: derived from the deployment's signing key (the one
    unsubscribe links use), under its own label."""
    from chalicelib.sending.unsubscribe import signing_key

    return hmac.new(signing_key(), b"short-link-codes", hashlib.sha256).digest()


@dataclass
class RecipientLinks:
    """The shortener of one message's render: each URL gets the message's own code; the
    links are stored (``store``) once the message rendered, before its claim."""

    workspace_id: str
    user_id: str
    message_key: str
    created_at: str
    task_id: str | None = None
    journey_id: str | None = None
    node_id: str | None = None
    links: dict[str, Link] = field(default_factory=dict)

    def __call__(self, url: str) -> str:
        """The short URL for ``url`` (ValueError in words for a URL that cannot be one)."""
        target = codes.target(url)
        link = self.links.get(target)
        if link is None:
            code = codes.message_code(_code_key(), self.message_key, target)
            link = Link(code=code, workspace_id=self.workspace_id, url=target, created_at=self.created_at,
                        user_id=self.user_id, message_key=self.message_key, task_id=self.task_id,
                        journey_id=self.journey_id, node_id=self.node_id)
            self.links[target] = link
        return short_url(link.code)


def store(links: list[Link]) -> list[Link]:
    """Store per-recipient links (a conditional put each: a re-render finds its own link and
    writes nothing). Returns the links whose code belongs to another link (a collision of
    71-bit codes: the message must not be sent with it)."""
    from chalicelib.sending.repo_messages import parallel

    collided = []
    for link, stored in zip(links, parallel(repo.put_new, links)):
        if stored:
            continue
        existing = repo.get(link.code)
        if existing is None or (existing.message_key, existing.url) != (link.message_key, link.url):
            collided.append(link)
    return collided
