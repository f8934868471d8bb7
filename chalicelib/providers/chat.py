"""What the chat and app-push adapters (wechat_oa, umeng, whatsapp, viber) share: one
HTTP client per process, reading credentials into a result, mapping transport failures,
the customer-service window gate, and HMAC helpers for callbacks."""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any, TypeVar

import httpx
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.providers.base import CallbackMalformed, CallbackRejected, Outgoing, Provider, Result
from chalicelib.sending import repo_service_window, service_window

TIMEOUT = httpx.Timeout(10.0, connect=5.0)
USER_AGENT = "marketing-automation-chat/1"
CONCURRENCY = 8
T = TypeVar("T")

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def client() -> httpx.Client:
    """One HTTP client per process, kept across invocations (its connections too)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = httpx.Client(
                follow_redirects=False, headers={"User-Agent": USER_AGENT}, timeout=TIMEOUT,
                limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
            )
        return _client


def base_url(provider: Provider, default: str) -> str:
    """The provider's ``endpoint`` setting (tests, private gateways) or its public URL."""
    return (provider.config.endpoint or default).rstrip("/")


def credentials(provider: Provider, required: Sequence[str]) -> dict[str, Any] | Result:
    """The stored credentials, or the result every message gets without them."""
    label = provider.config.kind
    try:
        found = provider.config.credentials()
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
            return Result("permanent", reason=f"the {label} provider has no stored credentials ({', '.join(required)})")
        return Result("retryable", reason=f"could not read the {label} provider's credentials")
    except BotoCoreError:
        return Result("retryable", reason=f"could not read the {label} provider's credentials")
    missing = [name for name in required if not found.get(name)]
    if missing:
        return Result("permanent", reason=f"the {label} provider has no {', '.join(missing)} credential")
    return found


def callback_credential(provider: Provider, name: str) -> str:
    """A credential a callback is verified with; a provider without it rejects callbacks."""
    try:
        value = provider.config.credentials().get(name)
    except ClientError:
        raise CallbackRejected(f"the provider has no stored {name} to verify callbacks with") from None
    if not value:
        raise CallbackRejected(f"the provider has no stored {name} to verify callbacks with")
    return str(value)


def transport_failure(error: Exception, label: str) -> Result:
    """The result of a call that got no answer."""
    if isinstance(error, (httpx.InvalidURL, httpx.UnsupportedProtocol)):
        return Result("permanent", reason=f"the {label} endpoint is not a usable http or https URL")
    if isinstance(error, httpx.TimeoutException):
        return Result("retryable", reason=f"{label} did not answer in time")
    return Result("retryable", reason=f"could not connect to {label}")


def call(send: Callable[[], httpx.Response], label: str) -> httpx.Response | Result:
    try:
        return send()
    except httpx.HTTPError as error:
        return transport_failure(error, label)


def json_answer(response: httpx.Response) -> dict[str, Any] | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def retry_after(response: httpx.Response) -> float | None:
    value = (response.headers.get("retry-after") or "").strip()
    return float(value) if value.isdigit() else None


def in_parallel(work: Callable[[T], Result], items: Sequence[T]) -> list[Result]:
    from concurrent.futures import ThreadPoolExecutor
    if len(items) <= 1:
        return [work(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(items))) as pool:
        return list(pool.map(work, items))


def outside_window(messages: Sequence[Outgoing], channel: str, now: datetime) -> dict[int, Result]:
    """The free-form messages (by index) that may not be sent now: their recipient has not
    written within the channel's customer-service window (one batched read)."""
    if not messages or not service_window.has_window(channel):
        return {}
    workspace_id = messages[0].workspace_id
    last = repo_service_window.last_inbound(workspace_id, channel, [m.to or "" for m in messages])
    reason = service_window.outside_reason(channel)
    return {index: Result("permanent", reason=reason) for index, m in enumerate(messages)
            if not service_window.is_open(channel, last.get(m.to or ""), now)}


def hmac_sha256_hex(key: str | bytes, body: bytes) -> str:
    return hmac.new(key.encode() if isinstance(key, str) else key, body, hashlib.sha256).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.strip().lower().encode(), b.strip().lower().encode())


def parse_json(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackMalformed("the body is not JSON") from None
    if not isinstance(document, dict):
        raise CallbackMalformed("the body is not a JSON object")
    return document


def from_unix(value: Any, *, millis: bool = False) -> datetime:
    """A provider's unix timestamp (seconds, or milliseconds) as a UTC datetime."""
    try:
        number = int(str(value))
    except (TypeError, ValueError):
        raise CallbackMalformed("a timestamp is not a number") from None
    return datetime.fromtimestamp(number / 1000 if millis else number, tz=timezone.utc)
