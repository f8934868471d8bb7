"""Unsubscribing through a signed link: check the token, put the address on the
suppression list (RFC 8058 one-click). The tokens themselves are ``unsubscribe``."""
from __future__ import annotations

from datetime import datetime

from chalicelib.errors import NotFound
from chalicelib.sending import repo_fatigue, unsubscribe
from chalicelib.sending.unsubscribe import Subscription


def subscription(token: str) -> Subscription:
    """Whose link this is, or a 404 that does not say why."""
    found = unsubscribe.verify(token, unsubscribe.signing_key())
    if found is None:
        raise NotFound("this unsubscribe link is not valid")
    return found


def opt_out(token: str, now: datetime) -> Subscription:
    """Suppress the link's address on its channel (idempotent: reasons are a set)."""
    found = subscription(token)
    repo_fatigue.suppress(found.workspace_id, found.channel, found.address, "unsubscribe", now)
    return found
