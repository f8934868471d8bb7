"""A generic HTTP SMS gateway: the request and the mapping of its answers are settings.

A regional gateway is connected without code. Settings (checked at PUT time by
``settings_problems``):

* ``url`` (required), ``method`` (POST, default; PUT or GET);
* ``headers``: name -> Liquid template (e.g. ``"Authorization": "Bearer {{ token }}"``);
* ``body``: a JSON object whose string values are Liquid templates, rendered over
  ``to``, ``body``, ``message_id`` (our idempotency key), ``user_id``, ``channel`` and
  ``token`` (the credential); ``encoding``: ``json`` (default) or ``form`` (a flat object
  sent application/x-www-form-urlencoded; with GET the fields go in the query);
* success: ``success_status`` (list of HTTP statuses; default any 2xx) and optionally
  ``success_path`` + ``success_value`` (a field of the JSON answer that must equal it);
  ``id_path``: where the answer carries the gateway's message id (dot path, list indexes
  as numbers: ``data.messages.0.id``); without it our message id is used;
  ``error_path``: where the answer carries the gateway's error text (for the reason);
  429, 5xx and timeouts are retryable, anything else permanent;
* receipts: ``receipt_id_path``, ``receipt_status_path``, ``receipt_status_map``
  (gateway value -> delivered / failed), ``receipt_items_path`` (where a list of receipts
  is, when the gateway batches them), ``receipt_encoding`` (json or form), and the check:
  ``receipt_auth`` = ``hmac_sha256`` (hex HMAC-SHA256 of the raw body with the
  ``receipt_secret`` credential, in header ``receipt_signature_header``, default
  X-Signature; an optional ``sha256=`` prefix is accepted) or ``token`` (the callback URL's
  ``token`` query parameter equals ``receipt_secret``).
"""
from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import httpx
from liquid.exceptions import LiquidError

from chalicelib import clock
from chalicelib.providers import aliyun
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, Outgoing, Provider, Receipt, Result, register,
    register_callback,
)
from chalicelib.sending import liquid_env

CLIENT = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
CONCURRENCY = 8
METHODS = ("POST", "PUT", "GET")
ENCODINGS = ("json", "form")
RECEIPT_AUTH = ("hmac_sha256", "token")
RECEIPT_STATUSES = ("delivered", "failed")
VARIABLES = ("to", "body", "message_id", "user_id", "channel", "token")
SAMPLE = {"to": "+8613800000000", "body": "sample", "message_id": "m-1", "user_id": "u-1", "channel": "sms",
          "token": "t"}


# ------------------------------------------------------------------------------ the settings

def settings_problems(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(setting, what is wrong) for every problem, in words; empty when they fit."""
    problems: list[tuple[str, str]] = []
    method = settings.get("method", "POST")
    if method not in METHODS:
        problems.append(("method", f"one of {', '.join(METHODS)}"))
    encoding = settings.get("encoding", "json")
    if encoding not in ENCODINGS:
        problems.append(("encoding", "json or form"))
    for name in ("headers", "receipt_status_map"):
        value = settings.get(name, {})
        if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
            problems.append((name, "a map of names to text"))
    for name, source in _templates(settings):
        problem = _template_problem(source)
        if problem:
            problems.append((name, problem))
    body = settings.get("body")
    if body is not None and encoding == "form" and any(isinstance(v, (dict, list)) for v in body.values()):
        problems.append(("body", "a form body is flat: each value is text"))
    if method == "GET" and encoding == "json" and body:
        problems.append(("encoding", "a GET request sends its fields as a query: use encoding form"))
    statuses = settings.get("success_status")
    if statuses is not None and (not statuses or not all(isinstance(s, int) and not isinstance(s, bool)
                                                         and 100 <= s <= 599 for s in statuses)):
        problems.append(("success_status", "a list of HTTP status codes (100-599)"))
    if ("success_path" in settings) != ("success_value" in settings):
        problems.append(("success_value", "success_path and success_value go together"))
    for name in ("id_path", "success_path", "error_path", "receipt_id_path", "receipt_status_path",
                 "receipt_items_path"):
        if name in settings and not _valid_path(settings[name]):
            problems.append((name, "a dot path such as data.messages.0.id"))
    status_map = settings.get("receipt_status_map") or {}
    if isinstance(status_map, dict):
        for value, status in status_map.items():
            if status not in RECEIPT_STATUSES:
                problems.append((f"receipt_status_map.{value}", "delivered or failed"))
    receipts = [n for n in ("receipt_id_path", "receipt_status_path", "receipt_status_map") if n in settings]
    if receipts and len(receipts) < 3:
        problems.append(("receipt_status_map", "receipts need receipt_id_path, receipt_status_path and "
                                               "receipt_status_map together"))
    if receipts and settings.get("receipt_auth") not in RECEIPT_AUTH:
        problems.append(("receipt_auth", "receipts must be checked: hmac_sha256 or token"))
    if settings.get("receipt_encoding", "json") not in ENCODINGS:
        problems.append(("receipt_encoding", "json or form"))
    return problems


def _templates(settings: Mapping[str, Any]) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []

    def walk(value: Any, path: str) -> None:
        if isinstance(value, str):
            found.append((path, value))
        elif isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{path}.{index}")

    for name in ("headers", "body"):
        if isinstance(settings.get(name), dict):
            walk(settings[name], name)
    return found


def _template_problem(source: str) -> str | None:
    try:
        liquid_env.PLAIN.from_string(source).render(**SAMPLE)
    except LiquidError as exc:
        message = str(exc).splitlines()[0]
        return f"is not a valid template ({message}); its variables are {', '.join(VARIABLES)}"
    return None


def _valid_path(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and all(part for part in value.split("."))


def at_path(value: Any, path: str) -> Any:
    """The value at a dot path (list indexes as numbers), or None."""
    for part in path.split("."):
        if isinstance(value, dict):
            value = value.get(part)
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


# ------------------------------------------------------------------------------ sending

def render(value: Any, context: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        return liquid_env.PLAIN.from_string(value).render(**context)
    if isinstance(value, dict):
        return {k: render(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, context) for v in value]
    return value


def build_request(settings: Mapping[str, Any], message: Outgoing, token: str) -> httpx.Request:
    context = {"to": message.to or "", "body": str(message.content.get("body") or ""),
               "message_id": message.idempotency_key, "user_id": message.user_id, "channel": message.channel,
               "token": token}
    method = str(settings.get("method", "POST"))
    headers = {str(k): render(v, context) for k, v in (settings.get("headers") or {}).items()}
    body = render(settings.get("body") or {}, context)
    url = str(settings["url"])
    if method == "GET":
        return CLIENT.build_request(method, url, params=body, headers=headers)
    if settings.get("encoding", "json") == "form":
        return CLIENT.build_request(method, url, data=body, headers=headers)
    return CLIENT.build_request(method, url, json=body, headers=headers)


def result_of(settings: Mapping[str, Any], message: Outgoing, response: httpx.Response) -> Result:
    try:
        answer: Any = response.json()
    except ValueError:
        answer = None
    status = response.status_code
    statuses = settings.get("success_status")
    ok = status in statuses if statuses else 200 <= status < 300
    if ok and "success_path" in settings:
        ok = at_path(answer, settings["success_path"]) == settings["success_value"]
    if ok:
        provider_id = at_path(answer, settings["id_path"]) if settings.get("id_path") else message.idempotency_key
        if provider_id in (None, ""):
            return Result("permanent", reason=f"the gateway's answer has no message id at {settings['id_path']}")
        return Result("accepted", provider_message_id=str(provider_id))
    detail = at_path(answer, settings["error_path"]) if settings.get("error_path") else None
    reason = f"the SMS gateway answered HTTP {status}" + (f": {detail}" if detail not in (None, "") else "")
    if status == 429 or status >= 500:
        return Result("retryable", reason=reason,
                      retry_after=aliyun.retry_after_seconds(response.headers.get("retry-after")))
    return Result("permanent", reason=reason)


@register
class HttpSms(Provider):
    kind = "http_sms"
    channels = frozenset({"sms"})
    max_batch = 50  # our chunk; one request per message

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        if not batch:
            return []
        token = str(self.config.credentials().get("token") or "")
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            return list(pool.map(lambda m: self._send_one(m, token), batch))

    def _settings(self) -> dict[str, Any]:
        settings = dict(self.config.settings)
        if self.config.endpoint:  # the endpoint setting replaces the URL's scheme and host
            settings["url"] = _rebase(str(settings["url"]), self.config.endpoint)
        return settings

    def _send_one(self, message: Outgoing, token: str) -> Result:
        if not message.to:
            return Result("permanent", reason="no phone number for this recipient")
        settings = self._settings()
        try:
            request = build_request(settings, message, token)
        except LiquidError as exc:
            return Result("permanent", reason=f"the gateway request could not be built: {str(exc).splitlines()[0]}")
        try:
            response = CLIENT.send(request)
        except httpx.HTTPError as exc:
            return Result("retryable", reason=f"the SMS gateway did not answer ({type(exc).__name__})")
        return result_of(settings, message, response)


def _rebase(url: str, endpoint: str) -> str:
    parsed, base = httpx.URL(url), httpx.URL(endpoint)
    path = base.path.rstrip("/") + parsed.path
    return str(parsed.copy_with(scheme=base.scheme, host=base.host, port=base.port, path=path))


# ------------------------------------------------------------------------------ receipts

def verify(settings: Mapping[str, Any], secret: str, callback: Callback) -> None:
    if not secret:
        raise CallbackRejected("this provider has no receipt_secret credential; receipts are refused")
    if settings.get("receipt_auth") == "token":
        given = callback.query.get("token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise CallbackRejected("the callback token does not match")
        return
    header = str(settings.get("receipt_signature_header") or "X-Signature").lower()
    given = callback.headers.get(header, "").removeprefix("sha256=")
    expected = hmac.new(secret.encode(), callback.body, hashlib.sha256).hexdigest()
    if not given or not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise CallbackRejected("the receipt signature does not verify")


def parse_receipts(settings: Mapping[str, Any], body: bytes, now: datetime) -> list[Receipt]:
    try:
        if settings.get("receipt_encoding", "json") == "form":
            payload: Any = dict(parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=True))
        else:
            payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackMalformed("the receipt body is not in the configured encoding") from None
    items = at_path(payload, settings["receipt_items_path"]) if settings.get("receipt_items_path") else payload
    items = items if isinstance(items, list) else [items]
    status_map = settings.get("receipt_status_map") or {}
    receipts = []
    for item in items:
        provider_id = at_path(item, settings["receipt_id_path"])
        value = at_path(item, settings["receipt_status_path"])
        if provider_id in (None, "") or value is None:
            raise CallbackMalformed(
                f"a receipt lacks {settings['receipt_id_path']} or {settings['receipt_status_path']}")
        status = status_map.get(str(value))
        if status is None:
            continue  # an intermediate state the map does not name
        receipts.append(Receipt(provider_message_id=str(provider_id), status=status, at=now,
                                reason=None if status == "delivered" else f"gateway status {value}"))
    return receipts


@register_callback("http_sms")
def handle_receipts(provider: Provider, callback: Callback) -> CallbackResult:
    settings = provider.config.settings
    if not settings.get("receipt_id_path"):
        raise CallbackMalformed("this gateway has no receipt mapping configured")
    verify(settings, str(provider.config.credentials().get("receipt_secret") or ""), callback)
    return CallbackResult(receipts=parse_receipts(settings, callback.body, clock.now()))
