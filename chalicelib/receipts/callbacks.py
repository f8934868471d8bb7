"""A provider's request to the receipts route: find the account, let its adapter verify
and parse the request, queue what it found, answer.

Nothing is queued unless the request verifies and parses in full, and the answer is 200
only once everything is queued: a provider that gets an error sends again, and the
receipts are idempotent, so a repeat changes nothing.
"""
from __future__ import annotations

import re

from chalicelib.errors import Invalid, NotFound
from chalicelib.providers import base as providers
from chalicelib.providers.base import Callback, CallbackResult
from chalicelib.receipts import json_receipts, sns  # noqa: F401 - registers the parsers
from chalicelib.receipts import queue
from chalicelib.sending import repo_providers

WORKSPACE_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def provider_of(workspace_id: str, name: str) -> providers.Provider:
    """The workspace's provider account by name, as its adapter (404 when there is none)."""
    if not WORKSPACE_ID.fullmatch(workspace_id or ""):
        raise Invalid("ws", "the workspace id is required in the query (?ws=<workspace_id>)")
    if not PROVIDER_NAME.fullmatch(name):
        raise NotFound(f"no provider {name}")
    record = repo_providers.get(workspace_id, name)
    if record is None:
        raise NotFound(f"no provider {name} in this workspace")
    config = providers.ProviderConfig(workspace_id, name, record.kind, record.channel, dict(record.settings))
    try:
        return providers.build(config)
    except providers.UnknownKind:  # no sending adapter here: its callback parser may still be registered
        return providers.Provider(config)


def handle(workspace_id: str, name: str, callback: Callback) -> CallbackResult:
    """Verify and parse (``CallbackRejected`` 401, ``CallbackMalformed`` 400), then queue."""
    provider = provider_of(workspace_id, name)
    result = provider.handle_callback(callback)
    messages = queue.messages_for(workspace_id, name, result.receipts, result.inbound)
    if messages:
        queue.enqueue(messages)
    return result
