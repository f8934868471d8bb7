"""Viber REST bot API: ``send_message`` to subscribed users, and the bot's callbacks.

Send: ``POST {endpoint or https://chatapi.viber.com}/pa/send_message`` with the header
``X-Viber-Auth-Token``, one call per message (one receiver per call). Settings:
``sender_name`` (required, at most 28 characters), ``sender_avatar`` (an image URL).
Credential: ``auth_token`` (sends, and verifies ``X-Viber-Content-Signature``).
``Outgoing.to`` is the profile's ``viber`` address: the Viber user id the bot received in
a callback (Viber does not address users by phone number).

Content (``content.ViberTemplate``): ``body`` as a ``text`` message; with ``image_url``, a
``picture`` message with ``body`` as its caption; with ``url`` alone, a ``url`` message;
``button`` (``text``, ``url``) becomes a one-button keyboard that opens the URL. The
message key goes out as ``tracking_data`` and comes back with the user's reply.

Answers: HTTP 200 with ``status`` 0 accepted (``message_token`` is the id); other statuses
per the "Error codes" table: 12 (too many requests), 429 and 5xx retry, the rest fail
with the code's name.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from chalicelib.providers import chat
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, InboundMessage, Outgoing, Provider, Receipt,
    ReceiptStatus, Result, register, register_callback,
)

DEFAULT_BASE = "https://chatapi.viber.com"
LABEL = "Viber"
MIN_API_VERSION = 1
SIGNATURE_HEADER = "x-viber-content-signature"

# The REST bot API's "Error codes" table: code -> (name, retryable).
ERRORS: dict[int, tuple[str, bool]] = {
    1: ("invalidUrl: the webhook URL is not valid", False),
    2: ("invalidAuthToken: the bot's auth token is not valid", False),
    3: ("badData: Viber could not read the request", False),
    4: ("missingData: a required field is missing", False),
    5: ("receiverNotRegistered: the receiver is not registered to Viber", False),
    6: ("receiverNotSubscribed: the receiver is not subscribed to the bot", False),
    7: ("publicAccountBlocked: the bot is blocked", False),
    8: ("publicAccountNotFound: the bot was not found", False),
    9: ("publicAccountSuspended: the bot is suspended", False),
    10: ("webhookNotSet: no webhook is set for the bot", False),
    11: ("receiverNoSuitableDevice: the receiver has no device that can show the message", False),
    12: ("tooManyRequests: the bot is over Viber's rate limit", True),
    13: ("apiVersionNotSupported: the receiver's Viber app is too old", False),
    14: ("incompatibleWithVersion: the message needs a newer Viber app", False),
    15: ("publicAccountNotAuthorized: the bot is not authorized", False),
    16: ("inchatReplyMessageNotAllowed: in-chat replies are not allowed", False),
    17: ("publicAccountIsNotInline: the bot is not inline", False),
    18: ("noPublicChat: the bot has no public chat", False),
    19: ("cannotSendBroadcast: a broadcast could not be sent", False),
    20: ("broadcastNotAllowed: broadcasts are not allowed for this bot", False),
    21: ("unsupportedCountry: Viber does not deliver bot messages in the receiver's country", False),
    22: ("paymentUnsupported: the bot does not support payments", False),
    23: ("freeMessagesExceeded: the bot used up its free messages", False),
    24: ("noBalance: the bot's account has no balance for paid messages", False),
}
EVENT_STATUS: dict[str, ReceiptStatus] = {"delivered": "delivered", "seen": "opened", "failed": "failed"}
INBOUND_EVENTS = ("message", "conversation_started", "subscribed")


def body_of(message: Outgoing, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``send_message`` body for a message."""
    content = message.content
    sender: dict[str, Any] = {"name": str(settings.get("sender_name") or "")[:28]}
    if settings.get("sender_avatar"):
        sender["avatar"] = settings["sender_avatar"]
    body: dict[str, Any] = {"receiver": message.to, "min_api_version": MIN_API_VERSION, "sender": sender,
                            "tracking_data": message.message_key}
    text = content.get("body") or content.get("text")
    if content.get("image_url"):
        body.update(type="picture", media=content["image_url"], text=str(text or ""))
    elif content.get("url") and not text:
        body.update(type="url", media=content["url"])
    else:
        body.update(type="text", text=str(text or ""))
    button = content.get("button")
    if isinstance(button, dict) and button.get("url"):
        body["keyboard"] = {"Type": "keyboard", "DefaultHeight": False, "Buttons": [{
            "Columns": 6, "Rows": 1, "ActionType": "open-url", "ActionBody": button["url"],
            "Text": str(button.get("text") or button["url"]),
        }]}
    return body


def outcome_of(response: httpx.Response) -> Result:
    if response.status_code == 429 or response.status_code >= 500:
        return Result("retryable", reason=f"Viber answered {response.status_code}", retry_after=chat.retry_after(response))
    answer = chat.json_answer(response)
    if response.status_code != 200 or answer is None:
        return Result("permanent", reason=f"Viber answered {response.status_code} without a status")
    status = answer.get("status")
    if status == 0:
        token = answer.get("message_token")
        return Result("accepted", provider_message_id=str(token) if token is not None else None)
    name, retryable = ERRORS.get(status, (f"{answer.get('status_message') or 'an unknown error'}", False)) \
        if isinstance(status, int) else ("an unreadable answer", False)
    reason = f"Viber status {status}: {name}"
    return Result("retryable", reason=reason) if retryable else Result("permanent", reason=reason)


@register
class ViberProvider(Provider):
    kind = "viber"
    channels = frozenset({"viber"})
    max_batch = 50  # one call per message, chat.CONCURRENCY at a time

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        found = chat.credentials(self, ("auth_token",))
        if isinstance(found, Result):
            return [found] * len(batch)
        url = f"{chat.base_url(self, DEFAULT_BASE)}/pa/send_message"
        headers = {"X-Viber-Auth-Token": str(found["auth_token"]), "Content-Type": "application/json"}
        http, settings = chat.client(), self.config.settings

        def one(message: Outgoing) -> Result:
            if not message.to:
                return Result("permanent", reason="the profile has no viber address")
            answer = chat.call(lambda: http.post(url, json=body_of(message, settings), headers=headers), LABEL)
            return answer if isinstance(answer, Result) else outcome_of(answer)

        return chat.in_parallel(one, list(batch))


@register_callback("viber")
def parse_callback(provider: Provider, callback: Callback) -> CallbackResult:
    """Every callback is signed: hex HMAC-SHA256 of the raw body with the auth token."""
    token = chat.callback_credential(provider, "auth_token")
    signature = callback.headers.get(SIGNATURE_HEADER, "")
    if not signature or not chat.same(signature, chat.hmac_sha256_hex(token, callback.body)):
        raise CallbackRejected("X-Viber-Content-Signature does not sign the body with the auth token")
    return parse_event(chat.parse_json(callback.body))


def parse_event(event: dict[str, Any]) -> CallbackResult:
    name = event.get("event")
    if not isinstance(name, str) or "timestamp" not in event:
        raise CallbackMalformed("a Viber callback has an event and a timestamp")
    at = chat.from_unix(event["timestamp"], millis=True)
    if name in EVENT_STATUS:
        if event.get("message_token") is None:
            raise CallbackMalformed(f"a {name} callback has a message_token")
        reason = str(event.get("desc") or "Viber could not deliver it") if name == "failed" else None
        return CallbackResult(receipts=[Receipt(provider_message_id=str(event["message_token"]),
                                                status=EVENT_STATUS[name], at=at, reason=reason,
                                                address=event.get("user_id"))])
    if name in INBOUND_EVENTS:
        user = event.get("sender") if name == "message" else event.get("user")
        if not isinstance(user, dict) or not user.get("id"):
            raise CallbackMalformed(f"a {name} callback names its user (id)")
        payload: dict[str, Any] = {"event": name}
        text = None
        if name == "message":
            message = event.get("message")
            if not isinstance(message, dict) or not message.get("type"):
                raise CallbackMalformed("a message callback has a message with a type")
            text = message.get("text")
            payload.update({k: message[k] for k in ("type", "media", "tracking_data") if message.get(k)})
        else:
            payload.update({k: event[k] for k in ("type", "context", "subscribed") if event.get(k) is not None})
        token = event.get("message_token")
        return CallbackResult(inbound=[InboundMessage(
            channel="viber", address=str(user["id"]), at=at, text=text, payload=payload,
            provider_message_id=str(token) if token is not None else None)])
    return CallbackResult()  # webhook (set_webhook's check), unsubscribed, client_status: nothing to record
