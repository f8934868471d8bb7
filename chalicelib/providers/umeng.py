"""Umeng U-Push (友盟+ 消息推送): unicast and listcast to device tokens.

Send: ``POST {endpoint or https://msgapi.umeng.com}/api/send?sign=<sign>`` with a JSON
body, where ``sign = MD5("POST" + url + post_body + app_master_secret)`` in lowercase hex
and ``url`` is the URL called without its query (U-Push API document, "签名"). Settings:
``app_key`` (required), ``platform`` (``android``, the default, or ``ios``: an Umeng app
key belongs to one platform), ``production_mode`` (true by default). Credential:
``app_master_secret``. ``Outgoing.to`` is the profile's ``push_token`` (the Umeng
device_token).

Batching: messages with the same content go out together, as one ``listcast`` of at most
``LISTCAST_LIMIT`` device tokens (comma-separated); a lone message is a ``unicast``. The
answer's ``msg_id`` is every message's provider id. A failure answer (``ret`` FAIL,
``data.error_code``) applies to every message of the call.

Receipts: U-Push documents no HTTP callback of delivery for server-sent messages in its
public API (arrival and open statistics are pulled with ``api/status`` per task); no
callback parser is registered.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

import httpx

from chalicelib import clock
from chalicelib.providers import chat
from chalicelib.providers.base import Outgoing, Provider, Result, register

DEFAULT_BASE = "https://msgapi.umeng.com"
LABEL = "Umeng U-Push"
LISTCAST_LIMIT = 500

# U-Push API error codes (appendix "错误码"). Throttling, busy and server errors retry.
RETRYABLE = {
    "2020": "U-Push is being upgraded",
    "2026": "too many send tasks in a minute",
    "2028": "the request's timestamp expired (clock skew)",
    "3000": "U-Push had a database error", "3001": "U-Push had a database error",
    "3002": "U-Push had a database error", "3003": "U-Push had a database error",
    "3004": "U-Push had a database error",
    "4000": "U-Push had a system error", "4001": "U-Push is busy", "4002": "the operation failed",
    "4009": "the U-Push server queue is full", "4013": "U-Push failed to send asynchronously",
}
PERMANENT = {
    "1015": "the app key has no push service", "2000": "the app is disabled",
    "2004": "the server's IP is not on the app's IP whitelist",
    "2015": f"too many device_tokens in one listcast (at most {LISTCAST_LIMIT})",
    "2021": "the app key does not exist", "2022": "the payload is too long",
    "2025": "the iOS payload has no aps", "2027": "the signature is wrong (check app_master_secret)",
    "2032": "no production certificate is uploaded", "2034": "the certificate has expired",
    "2039": "the push service is not enabled for the app", "4010": "a device token is malformed",
    "4014": "the device tokens do not belong to this app key", "4017": "the device was not found",
    "5005": "a device token is malformed",
}


def sign(url: str, body: str, secret: str, method: str = "POST") -> str:
    """The documented request signature: lowercase hex MD5 of method + url + body + secret."""
    return hashlib.md5(f"{method}{url}{body}{secret}".encode()).hexdigest()


def payload_of(content: dict[str, Any], platform: str) -> dict[str, Any]:
    """The U-Push ``payload`` for push content (title, body, data) on a platform."""
    title, text = str(content.get("title") or ""), str(content.get("body") or "")
    data = {str(k): str(v) for k, v in (content.get("data") or {}).items()}
    if platform == "ios":
        return {"aps": {"alert": {"title": title, "body": text}}, **data}
    android: dict[str, Any] = {"display_type": "notification",
                               "body": {"ticker": title or text, "title": title, "text": text, "after_open": "go_app"}}
    if data:
        android["extra"] = data
    return android


def request_body(app_key: str, tokens: Sequence[str], payload: dict[str, Any], *, production: bool,
                 timestamp: str, description: str | None = None) -> str:
    document: dict[str, Any] = {
        "appkey": app_key, "timestamp": timestamp, "type": "unicast" if len(tokens) == 1 else "listcast",
        "device_tokens": ",".join(tokens), "payload": payload, "production_mode": "true" if production else "false",
    }
    if description:
        document["description"] = description[:50]
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False)


def outcome_of(response: httpx.Response) -> Result:
    answer = chat.json_answer(response) or {}
    data: dict[str, Any] = answer["data"] if isinstance(answer.get("data"), dict) else {}
    if response.status_code == 200 and answer.get("ret") == "SUCCESS":
        ident = data.get("msg_id") or data.get("task_id")
        return Result("accepted", provider_message_id=str(ident) if ident else None)
    code = str(data.get("error_code") or "")
    said = str(data.get("error_msg") or "")
    suffix = f" (U-Push error {code}{': ' + said[:200] if said else ''})" if code else ""
    if code in RETRYABLE:
        return Result("retryable", reason=RETRYABLE[code] + suffix, retry_after=chat.retry_after(response))
    if code in PERMANENT:
        return Result("permanent", reason=PERMANENT[code] + suffix)
    if response.status_code == 429 or response.status_code >= 500:
        return Result("retryable", reason=f"U-Push answered {response.status_code}{suffix}",
                      retry_after=chat.retry_after(response))
    return Result("permanent", reason=f"U-Push refused the message ({response.status_code}){suffix}")


@register
class UmengProvider(Provider):
    kind = "umeng"
    channels = frozenset({"push"})
    max_batch = LISTCAST_LIMIT

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        found = chat.credentials(self, ("app_master_secret",))
        if isinstance(found, Result):
            return [found] * len(batch)
        secret = str(found["app_master_secret"])
        settings = self.config.settings
        platform = "ios" if str(settings.get("platform") or "android").lower() == "ios" else "android"
        production = settings.get("production_mode", True) not in (False, "false")
        results: list[Result | None] = [None] * len(batch)
        groups: dict[str, list[int]] = {}
        for index, message in enumerate(batch):
            if not message.to:
                results[index] = Result("permanent", reason="the profile has no push_token")
                continue
            payload = payload_of(message.content, platform)
            groups.setdefault(json.dumps(payload, sort_keys=True), []).append(index)
        calls = [(json.loads(key), indexes[start:start + LISTCAST_LIMIT])
                 for key, indexes in groups.items() for start in range(0, len(indexes), LISTCAST_LIMIT)]
        url = f"{chat.base_url(self, DEFAULT_BASE)}/api/send"
        http = chat.client()

        def one(call: tuple[dict[str, Any], list[int]]) -> Result:
            payload, indexes = call
            body = request_body(str(settings.get("app_key") or ""), [batch[i].to or "" for i in indexes], payload,
                                production=production, timestamp=str(int(clock.now().timestamp() * 1000)))
            answer = chat.call(lambda: http.post(url, params={"sign": sign(url, body, secret)}, content=body.encode(),
                                                 headers={"Content-Type": "application/json"}), LABEL)
            return answer if isinstance(answer, Result) else outcome_of(answer)

        for (_, indexes), result in zip(calls, chat.in_parallel(one, calls)):
            for index in indexes:
                results[index] = result
        return [r if r is not None else Result("permanent", reason="not sent") for r in results]
