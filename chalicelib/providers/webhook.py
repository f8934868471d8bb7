"""The webhook provider: each message is a signed JSON POST to the customer's URL.

Settings: ``url`` (required), ``endpoint`` (a base URL that replaces the URL's scheme and
host: private gateways, tests), ``timeout_seconds`` (10; at most 30). Credential:
``signing_secret``.

The body is JSON: ``{"message_key", "idempotency_key", "user_id", "channel", "to",
"content"}``. Headers: ``X-MA-Timestamp`` (unix seconds), ``X-MA-Signature`` (``v1=`` and
the hex HMAC-SHA256 of ``"<timestamp>.<body>"``, ``signing.sign``) and
``Idempotency-Key`` (the message's key, the same on every retry: a receiver that keeps it
never acts twice, so the sender may call again after a crash).

Answers: 2xx accepted (the provider message id is the answer's JSON ``id``, else the
idempotency key); 408, 429, 5xx, timeouts and connection errors retryable (with the
``Retry-After`` seconds or HTTP date when given); any other status permanent, with the
status and the start of the answer as the reason. Redirects are not followed (a 3xx is
permanent: configure the final URL).
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import clock
from chalicelib.providers import signing
from chalicelib.providers.base import Outgoing, Provider, Result, register

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 30.0
CONCURRENCY = 8
EXCERPT_CHARS = 200
USER_AGENT = "marketing-automation-webhook/1"

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One HTTP client per process, kept across invocations (its connections too)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                follow_redirects=False, headers={"User-Agent": USER_AGENT},
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                timeout=DEFAULT_TIMEOUT_SECONDS,
            )
        return _client


def target_url(settings: dict[str, Any]) -> str:
    """The URL to post to: ``url``, or its path and query under ``endpoint`` when set."""
    url = str(settings.get("url") or "")
    endpoint = settings.get("endpoint")
    if not endpoint:
        return url
    parts = urlsplit(url)
    path = parts.path if parts.path.startswith("/") or not parts.path else "/" + parts.path
    return str(endpoint).rstrip("/") + path + (f"?{parts.query}" if parts.query else "")


def body_of(message: Outgoing) -> bytes:
    """The JSON body posted for a message (compact, keys sorted: what is signed is sent)."""
    document = {
        "message_key": message.message_key, "idempotency_key": message.idempotency_key,
        "user_id": message.user_id, "channel": message.channel, "to": message.to, "content": message.content,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - now).total_seconds())


def excerpt(text: str) -> str:
    """The start of an answer, on one line, for a failure reason."""
    flat = re.sub(r"\s+", " ", text).strip()
    return flat if len(flat) <= EXCERPT_CHARS else flat[:EXCERPT_CHARS] + "…"


def outcome_of(response: httpx.Response, message: Outgoing, now: datetime) -> Result:
    """The result of one answer (see the module's docstring)."""
    status = response.status_code
    if 200 <= status < 300:
        return Result("accepted", provider_message_id=_answer_id(response) or message.idempotency_key)
    if status in (408, 429) or status >= 500:
        return Result("retryable", reason=f"webhook answered {status}",
                      retry_after=retry_after_seconds(response.headers.get("retry-after"), now))
    said = excerpt(response.text)
    return Result("permanent", reason=f"webhook answered {status}" + (f": {said}" if said else ""))


def _answer_id(response: httpx.Response) -> str | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    value = answer.get("id") if isinstance(answer, dict) else None
    if isinstance(value, (str, int)) and not isinstance(value, bool) and str(value).strip():
        return str(value)[:256]
    return None


@register
class WebhookProvider(Provider):
    kind = "webhook"
    channels = frozenset({"webhook"})
    max_batch = 20  # one POST per message, CONCURRENCY at a time
    supports_idempotency_key = True

    @property
    def timeout(self) -> float:
        configured = self.config.settings.get("timeout_seconds")
        return min(MAX_TIMEOUT_SECONDS, max(0.1, float(configured))) if configured else DEFAULT_TIMEOUT_SECONDS

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        secret = self._signing_secret()
        if isinstance(secret, Result):
            return [secret] * len(batch)
        url = target_url(self.config.settings)
        http = client()
        with ThreadPoolExecutor(max_workers=min(CONCURRENCY, max(1, len(batch)))) as pool:
            return list(pool.map(lambda m: self._post(http, url, secret, m), batch))

    def _signing_secret(self) -> str | Result:
        """The secret, or the result every message gets without it."""
        try:
            secret = self.config.credentials().get("signing_secret")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return Result("permanent", reason="the webhook provider has no stored credentials (signing_secret)")
            return Result("retryable", reason="could not read the webhook provider's credentials")
        except BotoCoreError:
            return Result("retryable", reason="could not read the webhook provider's credentials")
        if not secret:
            return Result("permanent", reason="the webhook provider has no signing_secret credential")
        return str(secret)

    def _post(self, http: httpx.Client, url: str, secret: str, message: Outgoing) -> Result:
        body = body_of(message)
        now = clock.now()
        timestamp = str(int(now.timestamp()))
        headers = {
            "Content-Type": "application/json",
            signing.TIMESTAMP_HEADER: timestamp,
            signing.SIGNATURE_HEADER: signing.sign(secret, timestamp, body),
            "Idempotency-Key": message.idempotency_key,
        }
        try:
            response = http.post(url, content=body, headers=headers, timeout=self.timeout)
        except (httpx.InvalidURL, httpx.UnsupportedProtocol):
            return Result("permanent", reason="the webhook URL is not a usable http or https URL")
        except httpx.TimeoutException:
            return Result("retryable", reason=f"webhook did not answer within {self.timeout:g} s")
        except httpx.TransportError:
            return Result("retryable", reason="could not connect to the webhook")
        return outcome_of(response, message, clock.now())
