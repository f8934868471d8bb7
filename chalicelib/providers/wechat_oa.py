"""WeChat Official Account (微信公众号): template messages, customer-service messages
inside the 48-hour window, and mass send to openid lists; the account's server callbacks.

Authorization: the account's AppID (setting ``app_id``) and AppSecret (credential
``app_secret``) buy an access token at ``cgi-bin/stable_token`` (valid ``expires_in``
seconds, 7200). The token is shared by every invocation through DynamoDB
(``repo_tokens``): one invocation fetches under a conditional lease while the others wait
for its write, and every process keeps it in memory until five minutes before it
expires. A call answered 40001/42001/40014 (token invalid or expired) refreshes it once
(``force_refresh``, again under the lease, unless another invocation already replaced it)
and is retried once.

Sending (``POST {endpoint or https://api.weixin.qq.com}/cgi-bin/message/...?access_token=``):

* channel ``wechat_template``: ``message/template/send`` per message, ``template_id`` =
  the template's ``external_id``, ``data`` = ``{key: {"value": ...}}``, ``url`` when given.
* channel ``wechat``, setting ``send_mode`` ``service`` (default): ``message/custom/send``
  per message, only to users who interacted within 48 hours (``service_window``); others
  fail with "outside the 48-hour customer-service window".
* channel ``wechat``, ``send_mode`` ``mass``: messages with the same content go out as one
  ``message/mass/send`` to their openid list (2 to ``MASS_LIMIT`` openids, with a
  ``clientmsgid`` so a retried call is not sent twice); a lone message goes as a
  customer-service message (mass send takes at least two openids).

Content: ``body`` is a text message; ``msgtype`` with ``media_id`` (image, voice, mpnews),
``video`` (``media_id``, ``title``, ``description``, ``thumb_media_id``),
``miniprogrampage`` (customer-service only: ``title``, ``appid``, ``pagepath``,
``thumb_media_id``) and ``wxcard`` (mass only: ``card_id``). ``Outgoing.to`` is the
profile's ``wechat_openid``.

Callbacks: the GET server verification and every POST carry ``signature`` = SHA1 of the
sorted, concatenated [token, timestamp, nonce] (credential ``token``, the "Token" of the
server configuration). Safe (AES) mode callbacks also carry ``msg_signature`` and are
decrypted with the account's EncodingAESKey (credential ``encoding_aes_key``).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from xml.etree import ElementTree

import httpx

from chalicelib import clock
from chalicelib.providers import chat, repo_tokens
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, InboundMessage, Outgoing, Provider, Receipt,
    Result, register, register_callback,
)
from chalicelib.sending import service_window

DEFAULT_BASE = "https://api.weixin.qq.com"
LABEL = "WeChat"
MASS_LIMIT = 10_000          # message/mass/send: touser holds 2 to 10,000 openids
MASS_MIN = 2
TOKEN_MARGIN_SECONDS = 300   # stop using a token five minutes before it expires
LEASE_SECONDS = 10
WAIT_STEP_SECONDS = 0.1
STALE_TOKEN = {40001, 42001, 40014}

# Global return codes (全局返回码) and the message APIs' own codes.
RETRYABLE = {
    -1: "WeChat is busy",
    45009: "the account reached the API's daily call quota",
    45011: "the API is called too often",
    45047: "too many customer-service messages to this user before they reply",
    45028: "the account has no mass-send quota left",
    40001: "WeChat refused the access token even after a refresh",
    42001: "WeChat refused the access token even after a refresh",
    40014: "WeChat refused the access token even after a refresh",
}
PERMANENT = {
    40003: "the openid is not valid for this account",
    43004: "the user does not follow (or unfollowed) the account",
    43019: "the user blocked the account",
    45015: service_window.outside_reason("wechat"),
    40037: "the template_id is not valid",
    47003: "the template data does not fit the template",
    40007: "the media_id is not valid",
    40013: "the AppID is not valid",
    40125: "the AppSecret is not valid",
    40164: "the calling IP is not on the account's IP whitelist",
    48001: "the account is not authorized for this API",
    45065: "a mass send with the same clientmsgid was already made",
    40008: "the message type is not valid",
    45002: "the message is too long",
}


# --------------------------------------------------------------------------- token
_memory: dict[tuple[str, str], tuple[str, int]] = {}
_memory_lock = threading.Lock()


def _wait(seconds: float) -> None:
    """Wait for the invocation holding the lease (tests observe it)."""
    time.sleep(seconds)


class TokenError(Exception):
    def __init__(self, result: Result):
        super().__init__(result.reason)
        self.result = result


def _fetch(base: str, app_id: str, secret: str, force: bool) -> tuple[str, int]:
    """A token and its lifetime (seconds) from ``cgi-bin/stable_token``."""
    body = {"grant_type": "client_credential", "appid": app_id, "secret": secret, "force_refresh": force}
    answer = chat.call(lambda: chat.client().post(f"{base}/cgi-bin/stable_token", json=body), LABEL)
    if isinstance(answer, Result):
        raise TokenError(answer)
    document = chat.json_answer(answer) or {}
    if answer.status_code == 200 and document.get("access_token"):
        return str(document["access_token"]), int(document.get("expires_in") or 7200)
    raise TokenError(_error_result(answer, document, "getting an access token"))


class Tokens:
    """The access token of one provider, shared through memory and DynamoDB."""

    def __init__(self, provider: Provider, app_id: str, secret: str):
        self.workspace_id, self.name = provider.config.workspace_id, provider.config.name
        self.base = chat.base_url(provider, DEFAULT_BASE)
        self.app_id, self.secret = app_id, secret
        self._lock = threading.Lock()
        self._current: str | None = None

    def current(self) -> str:
        with self._lock:
            if self._current is None:
                self._current = self._obtain(stale=None)
            return self._current

    def renew(self, stale: str) -> str:
        """A token other than ``stale`` (fetched once per process however many calls ask)."""
        with self._lock:
            if self._current != stale and self._current is not None:
                return self._current
            with _memory_lock:
                if _memory.get(self._key(), ("", 0))[0] == stale:
                    _memory.pop(self._key(), None)
            self._current = self._obtain(stale=stale)
            return self._current

    def _key(self) -> tuple[str, str]:
        return (self.workspace_id, self.name)

    def _usable(self, token: str | None, expires_at: int, stale: str | None) -> bool:
        return bool(token) and token != stale and expires_at - TOKEN_MARGIN_SECONDS > int(clock.now().timestamp())

    def _obtain(self, stale: str | None) -> str:
        with _memory_lock:
            token, expires_at = _memory.get(self._key(), ("", 0))
        if self._usable(token, expires_at, stale):
            return token
        waited = 0.0
        while True:
            stored = repo_tokens.read(self.workspace_id, self.name)
            if self._usable(stored.token, stored.expires_at, stale):
                return self._remember(str(stored.token), stored.expires_at)
            now = int(clock.now().timestamp())
            owner = repo_tokens.take_lease(self.workspace_id, self.name, now, LEASE_SECONDS, stale,
                                           usable_until=now + TOKEN_MARGIN_SECONDS)
            if owner is not None or waited >= LEASE_SECONDS:
                # ours to fetch (or the holder never wrote: fetch anyway, the stable token
                # API answers the same token to every caller)
                try:
                    token, lifetime = _fetch(self.base, self.app_id, self.secret, force=stale is not None)
                except TokenError:
                    if owner is not None:
                        repo_tokens.release(self.workspace_id, self.name, owner)
                    raise
                expires_at = int(clock.now().timestamp()) + lifetime
                repo_tokens.store(self.workspace_id, self.name, token, expires_at)
                return self._remember(token, expires_at)
            _wait(WAIT_STEP_SECONDS)
            waited += WAIT_STEP_SECONDS

    def _remember(self, token: str, expires_at: int) -> str:
        with _memory_lock:
            _memory[self._key()] = (token, expires_at)
        return token


def forget_tokens() -> None:
    """Drop the in-memory tokens (tests: a new process)."""
    with _memory_lock:
        _memory.clear()


# --------------------------------------------------------------------------- bodies
def _error_result(response: httpx.Response, document: dict[str, Any], doing: str = "") -> Result:
    code = document.get("errcode")
    said = str(document.get("errmsg") or "")[:200]
    suffix = f" (WeChat error {code}{': ' + said if said else ''})" if code is not None else ""
    if code in RETRYABLE:
        return Result("retryable", reason=RETRYABLE[code] + suffix)
    if code in PERMANENT:
        return Result("permanent", reason=PERMANENT[code] + suffix)
    if response.status_code == 429 or response.status_code >= 500:
        return Result("retryable", reason=f"WeChat answered {response.status_code}{suffix}")
    what = f" {doing}" if doing else ""
    return Result("permanent", reason=f"WeChat refused{what} ({response.status_code}){suffix}")


def template_body(message: Outgoing) -> dict[str, Any]:
    content = message.content
    body: dict[str, Any] = {"touser": message.to, "template_id": content.get("external_id"),
                            "data": {key: {"value": str(value)} for key, value in (content.get("data") or {}).items()}}
    if content.get("url"):
        body["url"] = content["url"]
    if isinstance(content.get("miniprogram"), dict):
        body["miniprogram"] = content["miniprogram"]
    body["client_msg_id"] = message.idempotency_key[:64]
    return body


def msgtype_of(content: dict[str, Any]) -> str:
    return str(content.get("msgtype") or "text")


def custom_body(message: Outgoing) -> dict[str, Any] | Result:
    content, kind = message.content, msgtype_of(message.content)
    body: dict[str, Any] = {"touser": message.to, "msgtype": kind}
    if kind == "text":
        body["text"] = {"content": str(content.get("body") or content.get("text") or "")}
    elif kind in ("image", "voice", "mpnews"):
        body[kind] = {"media_id": content.get("media_id")}
    elif kind == "video":
        body[kind] = {k: content[k] for k in ("media_id", "thumb_media_id", "title", "description") if content.get(k)}
    elif kind == "miniprogrampage":
        body[kind] = {k: content[k] for k in ("title", "appid", "pagepath", "thumb_media_id") if content.get(k)}
    else:
        return Result("permanent", reason=f"a WeChat customer-service message cannot be of type {kind}")
    return body


def mass_body(content: dict[str, Any], openids: Sequence[str], client_msg_id: str) -> dict[str, Any] | Result:
    kind = msgtype_of(content)
    body: dict[str, Any] = {"touser": list(openids), "clientmsgid": client_msg_id}
    if kind == "text":
        body.update(msgtype="text", text={"content": str(content.get("body") or content.get("text") or "")})
    elif kind == "image":
        body.update(msgtype="image", images={"media_ids": [content.get("media_id")], "recommend": "",
                                             "need_open_comment": 0, "only_fans_can_comment": 0})
    elif kind == "voice":
        body.update(msgtype="voice", voice={"media_id": content.get("media_id")})
    elif kind in ("video", "mpvideo"):
        body.update(msgtype="mpvideo", mpvideo={k: content[k] for k in ("media_id", "title", "description")
                                                  if content.get(k)})
    elif kind == "mpnews":
        body.update(msgtype="mpnews", mpnews={"media_id": content.get("media_id")}, send_ignore_reprint=0)
    elif kind == "wxcard":
        body.update(msgtype="wxcard", wxcard={"card_id": content.get("card_id")})
    else:
        return Result("permanent", reason=f"WeChat's mass send does not take {kind} messages")
    return body


def content_key(content: dict[str, Any]) -> str:
    return json.dumps({k: v for k, v in content.items() if k != "channel"}, sort_keys=True, ensure_ascii=False)


# --------------------------------------------------------------------------- adapter
@register
class WechatOfficialAccount(Provider):
    kind = "wechat_oa"
    channels = frozenset({"wechat", "wechat_template"})
    max_batch = 1000

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        found = chat.credentials(self, ("app_secret",))
        if isinstance(found, Result):
            return [found] * len(batch)
        tokens = Tokens(self, str(self.config.settings.get("app_id") or ""), str(found["app_secret"]))
        try:
            tokens.current()
        except TokenError as failed:
            return [failed.result] * len(batch)
        results: list[Result | None] = [None] * len(batch)
        for index, message in enumerate(batch):
            if not message.to:
                results[index] = Result("permanent", reason="the profile has no wechat_openid")
        pending = [i for i in range(len(batch)) if results[i] is None]
        calls: list[tuple[str, dict[str, Any], list[int]]] = []
        service: list[int] = []
        mass = str(self.config.settings.get("send_mode") or "service") == "mass"
        groups: dict[str, list[int]] = {}
        for index in pending:
            message = batch[index]
            if message.channel == "wechat_template":
                calls.append(("message/template/send", template_body(message), [index]))
            elif mass:
                groups.setdefault(content_key(message.content), []).append(index)
            else:
                service.append(index)
        for indexes in groups.values():
            if len(indexes) < MASS_MIN:
                service.extend(indexes)
                continue
            for start in range(0, len(indexes), MASS_LIMIT):
                part = indexes[start:start + MASS_LIMIT]
                if len(part) < MASS_MIN:
                    service.extend(part)
                    continue
                ident = hashlib.sha256("|".join(batch[i].idempotency_key for i in part).encode()).hexdigest()[:64]
                body = mass_body(batch[part[0]].content, [batch[i].to or "" for i in part], ident)
                if isinstance(body, Result):
                    for i in part:
                        results[i] = body
                else:
                    calls.append(("message/mass/send", body, part))
        closed = chat.outside_window([batch[i] for i in service], "wechat", clock.now())
        for position, index in enumerate(service):
            body_or_result = closed.get(position) or custom_body(batch[index])
            if isinstance(body_or_result, Result):
                results[index] = body_or_result
            else:
                calls.append(("message/custom/send", body_or_result, [index]))

        def one(call: tuple[str, dict[str, Any], list[int]]) -> Result:
            path, body, indexes = call
            return self._call(tokens, path, body, batch[indexes[0]].idempotency_key)

        for (_, _, indexes), result in zip(calls, chat.in_parallel(one, calls)):
            for index in indexes:
                results[index] = result
        return [r if r is not None else Result("permanent", reason="not sent") for r in results]

    def _call(self, tokens: Tokens, path: str, body: dict[str, Any], fallback_id: str) -> Result:
        url = f"{chat.base_url(self, DEFAULT_BASE)}/cgi-bin/{path}"
        data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            token = tokens.current()
            answer = self._post(url, token, data)
            document = chat.json_answer(answer) or {} if isinstance(answer, httpx.Response) else {}
            if document.get("errcode") in STALE_TOKEN:
                answer = self._post(url, tokens.renew(token), data)
                document = chat.json_answer(answer) or {} if isinstance(answer, httpx.Response) else {}
        except TokenError as failed:
            return failed.result
        if isinstance(answer, Result):
            return answer
        if answer.status_code == 200 and document.get("errcode", 0) == 0:
            ident = document.get("msgid") or document.get("msg_id")
            return Result("accepted", provider_message_id=str(ident) if ident is not None else fallback_id)
        return _error_result(answer, document)


    @staticmethod
    def _post(url: str, token: str, data: bytes) -> httpx.Response | Result:
        return chat.call(lambda: chat.client().post(url, params={"access_token": token}, content=data,
                                                    headers={"Content-Type": "application/json; charset=utf-8"}), LABEL)


# --------------------------------------------------------------------------- callbacks
def signature_of(token: str, timestamp: str, nonce: str) -> str:
    """WeChat's server signature: SHA1 of the sorted, concatenated token, timestamp and nonce."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()


@register_callback("wechat_oa")
def parse_callback(provider: Provider, callback: Callback) -> CallbackResult:
    token = chat.callback_credential(provider, "token")
    query = callback.query
    given = query.get("signature", "")
    expected = signature_of(token, query.get("timestamp", ""), query.get("nonce", ""))
    if not given or not query.get("timestamp") or not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise CallbackRejected("the signature does not match the account's Token")
    if callback.method.upper() == "GET":
        if "echostr" not in query:
            raise CallbackMalformed("a WeChat server verification carries echostr")
        return CallbackResult(reply=(200, query["echostr"], "text/plain"))
    fields = parse_xml(callback.body)
    if query.get("encrypt_type", "raw") not in ("", "raw") or ("Encrypt" in fields and "MsgType" not in fields):
        fields = parse_xml(decrypt_message(provider, token, query, fields.get("Encrypt", "")))
    result = parse_message(fields)
    return CallbackResult(receipts=result.receipts, inbound=result.inbound, reply=(200, "success", "text/plain"))


def decrypt_message(provider: Provider, token: str, query: Mapping[str, str], encrypted: str) -> bytes:
    """Safe mode ("消息加解密说明"): ``msg_signature`` is the SHA1 of the sorted token,
    timestamp, nonce and Encrypt; the AES key is the base64 of EncodingAESKey + "=" (32
    bytes), AES-256-CBC with the key's first 16 bytes as IV and PKCS#7 padding to 32 bytes;
    the plaintext is 16 random bytes, the message length (4 bytes, big-endian), the message
    and the AppID, which must be the account's."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    if not encrypted:
        raise CallbackMalformed("a safe-mode WeChat message carries Encrypt")
    given = query.get("msg_signature", "")
    expected = hashlib.sha1("".join(sorted([token, query.get("timestamp", ""), query.get("nonce", ""),
                                            encrypted])).encode()).hexdigest()
    if not given or not hmac.compare_digest(given.lower().encode(), expected.encode()):
        raise CallbackRejected("the msg_signature does not match the account's Token")
    aes_key = chat.callback_credential(provider, "encoding_aes_key")
    try:
        key = base64.b64decode(aes_key + "=", validate=True)
        data = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise CallbackMalformed("Encrypt or the account's EncodingAESKey is not base64") from None
    if len(key) != 32 or not data or len(data) % 16:
        raise CallbackMalformed("Encrypt does not decrypt with the account's EncodingAESKey")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    plain = decryptor.update(data) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 32 or len(plain) < 20 + pad:
        raise CallbackRejected("Encrypt does not decrypt with the account's EncodingAESKey")
    plain = plain[:-pad]
    length = int.from_bytes(plain[16:20], "big")
    message, app_id = plain[20:20 + length], plain[20 + length:]
    if app_id.decode(errors="replace") != str(provider.config.settings.get("app_id", "")):
        raise CallbackRejected("the message was encrypted for another AppID")
    return message


def parse_xml(body: bytes) -> dict[str, str]:
    """The flat fields of a WeChat XML message (``<xml><ToUserName>..</ToUserName>..</xml>``)."""
    if b"<!DOCTYPE" in body.upper() or b"<!ENTITY" in body.upper():
        raise CallbackMalformed("a WeChat message has no document type or entities")
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise CallbackMalformed("the body is not XML") from None
    if root.tag != "xml":
        raise CallbackMalformed("a WeChat message is an <xml> document")
    return {child.tag: (child.text or "").strip() for child in root}


def parse_message(fields: dict[str, str]) -> CallbackResult:
    kind, sender = fields.get("MsgType"), fields.get("FromUserName")
    if not kind or not sender or not fields.get("CreateTime"):
        raise CallbackMalformed("a WeChat message has MsgType, FromUserName and CreateTime")
    at = chat.from_unix(fields["CreateTime"])
    if kind == "event":
        event = fields.get("Event", "")
        if event in ("TEMPLATESENDJOBFINISH", "MASSSENDJOBFINISH"):
            return CallbackResult(receipts=[_job_receipt(event, fields, at)])
        payload = {"event": event.lower(), **({"key": fields["EventKey"]} if fields.get("EventKey") else {})}
        return CallbackResult(inbound=[InboundMessage(channel="wechat", address=sender, at=at, payload=payload)])
    text = fields.get("Content") if kind == "text" else None
    payload = {"msg_type": kind, **{name.lower(): fields[name] for name in ("MediaId", "PicUrl", "Format", "Recognition",
                                                                          "Url", "Title") if fields.get(name)}}
    return CallbackResult(inbound=[InboundMessage(channel="wechat", address=sender, at=at, text=text, payload=payload,
                                                  provider_message_id=fields.get("MsgId") or None)])


def _job_receipt(event: str, fields: dict[str, str], at: datetime) -> Receipt:
    ident = fields.get("MsgID") or fields.get("MsgId")
    if not ident:
        raise CallbackMalformed(f"a {event} event carries MsgID")
    status = fields.get("Status", "")
    ok = status == "success" if event == "TEMPLATESENDJOBFINISH" else status == "send success"
    if ok:
        return Receipt(provider_message_id=ident, status="delivered", at=at, address=fields.get("FromUserName"))
    if event == "MASSSENDJOBFINISH":
        counts = ", ".join(f"{name} {fields[name]}" for name in ("TotalCount", "SentCount", "ErrorCount") if name in fields)
        reason = f"mass send finished: {status}" + (f" ({counts})" if counts else "")
    else:
        reason = {"failed:user block": "the user refused the account's messages",
                  "failed: system failed": "WeChat could not deliver it"}.get(status, f"WeChat reported {status}")
    return Receipt(provider_message_id=ident, status="failed", at=at, reason=reason, address=fields.get("FromUserName"))
