"""The provider interface, its configuration, and the registry of kinds.

An adapter turns a batch of outgoing messages into one result per message, in order:
``accepted`` (with the provider's message id), ``retryable`` (429, 5xx, timeouts: the
sender releases the claim and retries with backoff) or ``permanent`` (the provider's
reason is recorded and the message fails). An adapter maps its own errors to results; an
exception escaping ``send`` means "outcome unknown" and is treated as a crash.

Credentials live in Secrets Manager under
``marketing-automation/<stage>/<workspace_id>/providers/<name>``, are fetched by name at
send time and are never logged nor put in a queue message; the settings that travel with
a send are the non-secret ones.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar, Literal

from chalicelib import aws
from chalicelib.config import settings as app_settings

Outcome = Literal["accepted", "retryable", "permanent"]


@dataclass(frozen=True)
class ProviderConfig:
    """A workspace's provider: its name, kind, channel and non-secret settings."""

    workspace_id: str
    name: str
    kind: str
    channel: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def rate_limit(self) -> float | None:
        value = self.settings.get("rate_limit")
        return float(value) if value is not None else None

    @property
    def batch_size(self) -> int | None:
        value = self.settings.get("batch_size")
        return int(value) if value is not None else None

    @property
    def cost_per_message(self) -> float:
        return float(self.settings.get("cost_per_message") or 0)

    @property
    def endpoint(self) -> str | None:
        return self.settings.get("endpoint") or None

    def secret_id(self) -> str:
        return f"marketing-automation/{app_settings.stage}/{self.workspace_id}/providers/{self.name}"

    def credentials(self) -> dict[str, Any]:
        """The provider's credentials from Secrets Manager (never log or return them)."""
        raw = aws.secretsmanager().get_secret_value(SecretId=self.secret_id())["SecretString"]
        value = json.loads(raw)
        return value if isinstance(value, dict) else {"secret": value}


@dataclass(frozen=True)
class Outgoing:
    """One message to hand to a provider."""

    workspace_id: str
    message_key: str          # "<pk>|<sk>" of the message record
    idempotency_key: str      # stable across retries; for providers that take one
    user_id: str
    channel: str
    to: str | None
    content: dict[str, Any]


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    provider_message_id: str | None = None
    reason: str | None = None
    cost: float | None = None          # None: the configured cost_per_message
    retry_after: float | None = None   # seconds, when the provider said (Retry-After)


# ----------------------------------------------------------------- callbacks (receipts)
# Providers call back at ``/v1/receipts/{provider}?ws=<workspace_id>`` (POST; GET for the
# handshakes some of them make when a webhook is registered). The route finds the
# workspace's provider by name, hands the request to the adapter's callback parser (which
# verifies the signature with the provider's credentials and parses the body), queues
# what it returns, and answers the parser's reply (or 200 "ok").

ReceiptStatus = Literal["delivered", "failed", "opened", "clicked", "bounced", "complained"]


@dataclass(frozen=True)
class Callback:
    """A request a provider made to the receipts route."""

    method: str                 # GET or POST
    url: str                    # as the provider called it, query included (some sign it)
    headers: Mapping[str, str]  # names lower-cased
    query: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Receipt:
    """What a provider reports about a message it accepted."""

    provider_message_id: str
    status: ReceiptStatus
    at: datetime
    reason: str | None = None
    address: str | None = None  # the recipient (bounces and complaints feed suppression)
    url: str | None = None      # the link clicked


@dataclass(frozen=True)
class InboundMessage:
    """A message a user sent to us on a chat channel (becomes a ``message_received`` event)."""

    channel: str
    address: str                # the sender: phone number, WeChat openid, Viber user id
    at: datetime
    text: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)  # button replies, media ids
    provider_message_id: str | None = None


@dataclass(frozen=True)
class CallbackResult:
    receipts: list[Receipt] = field(default_factory=list)
    inbound: list[InboundMessage] = field(default_factory=list)
    # A handshake answer (SNS SubscriptionConfirmation, WhatsApp hub.challenge, WeChat
    # echostr): (HTTP status, body, content type). None: 200 "ok".
    reply: tuple[int, str, str] | None = None


class CallbackRejected(Exception):
    """The signature or timestamp does not verify (401); nothing is changed."""


class CallbackMalformed(Exception):
    """The request is not in the provider's documented shape (400); nothing is changed."""


CallbackParser = Callable[["Provider", Callback], CallbackResult]
_CALLBACKS: dict[str, CallbackParser] = {}


def register_callback(kind: str) -> Callable[[CallbackParser], CallbackParser]:
    """Decorator: the parser of a kind's callbacks, ``parser(provider, callback)``.

    The parser verifies first (raising ``CallbackRejected``), then parses (raising
    ``CallbackMalformed``); it reads credentials with ``provider.config.credentials()``.
    """
    def decorate(parser: CallbackParser) -> CallbackParser:
        _CALLBACKS[kind] = parser
        return parser
    return decorate


class Provider:
    """Base of every adapter. Subclasses set the class attributes and implement ``send``."""

    kind: ClassVar[str]
    channels: ClassVar[frozenset[str]]
    max_batch: ClassVar[int] = 1                      # the provider's own ceiling per call
    supports_idempotency_key: ClassVar[bool] = False  # a repeated key is never sent twice
    # Its receipts name our message key, so no ``by_provider_id`` entry is needed and the
    # messages a call accepted are recorded together (``repo_messages.record_accepted``).
    receipts_name_message_key: ClassVar[bool] = False

    def __init__(self, config: ProviderConfig):
        self.config = config

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def batch_size(self) -> int:
        """Messages per call: the configured batch size, within the provider's ceiling."""
        configured = self.config.batch_size
        return max(1, min(self.max_batch, configured)) if configured else self.max_batch

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        raise NotImplementedError

    @classmethod
    def message_id_of(cls, message_key: str) -> str | None:
        """The id this kind gives a message, when it follows from our key alone (None: it
        does not; the id is stored)."""
        return None

    def handle_callback(self, callback: Callback) -> CallbackResult:
        """Verify and parse a request the provider made to the receipts route."""
        parser = _CALLBACKS.get(self.config.kind)
        if parser is None:
            raise CallbackMalformed(f"{self.config.kind} providers do not call back")
        return parser(self, callback)


class UnknownKind(LookupError):
    """No adapter of that kind is registered."""


_KINDS: dict[str, type[Provider]] = {}


def register(cls: type[Provider]) -> type[Provider]:
    """Class decorator: make an adapter available under its ``kind``."""
    _KINDS[cls.kind] = cls
    return cls


def kinds() -> dict[str, type[Provider]]:
    return dict(_KINDS)


def build(config: ProviderConfig) -> Provider:
    """The adapter for a provider configuration, the kind's published defaults (rate limit,
    cost per message) filling what the account leaves unset."""
    try:
        cls = _KINDS[config.kind]
    except KeyError:
        raise UnknownKind(f"no provider of kind {config.kind!r}") from None
    if config.channel not in cls.channels:
        raise UnknownKind(f"a {config.kind} provider does not send {config.channel} messages")
    from chalicelib.sending.providers_config import published_defaults  # the kinds' declarations

    missing = {k: v for k, v in published_defaults(config.kind).items() if config.settings.get(k) is None}
    return cls(replace(config, settings={**config.settings, **missing}) if missing else config)

