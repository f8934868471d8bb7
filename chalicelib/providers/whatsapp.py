"""WhatsApp Cloud API (Meta): template messages, and free text inside the 24-hour
customer-service window; webhooks for statuses and inbound messages.

Send: ``POST {endpoint or https://graph.facebook.com}/{api_version}/{phone_number_id}/messages``
with ``Authorization: Bearer <access_token>``, one call per message (the API takes one
recipient per call). Settings: ``phone_number_id`` (required), ``api_version`` (default
``v21.0``). Credentials: ``access_token`` (sending), ``app_secret`` (verifies
``X-Hub-Signature-256``), ``verify_token`` (the webhook's GET verification).

Content: a template (``external_id`` = the approved template's name, ``language``,
``params`` = the body's ``{{1}}``.. parameters in order) is always sendable; a free-form
``text`` (or ``body``) only when the recipient wrote within 24 hours
(``service_window``), else the message fails with "outside the 24-hour
customer-service window". ``Outgoing.to`` is the profile's ``whatsapp`` address (E.164;
the leading ``+`` is dropped).
"""
from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any

import httpx

from chalicelib import clock
from chalicelib.providers import chat
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, InboundMessage, Outgoing, Provider, Receipt,
    ReceiptStatus, Result, register, register_callback,
)
from chalicelib.sending import service_window

DEFAULT_BASE = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v21.0"
LABEL = "WhatsApp"

# Error codes (Cloud API "Error codes" page). Throttling and Meta-side failures retry;
# everything else is the message's own problem and fails with its reason.
RETRYABLE = {
    4: "the app hit its API call rate limit",
    80007: "the WhatsApp Business Account hit its rate limit",
    130429: "the phone number hit its throughput rate limit",
    131016: "WhatsApp is temporarily unavailable",
    131000: "WhatsApp had an unknown error",
    131056: "too many messages to this recipient in a short time (pair rate limit)",
    133004: "the WhatsApp server is temporarily unavailable",
}
PERMANENT = {
    131047: service_window.outside_reason("whatsapp"),
    131026: "the message is undeliverable to this number (not on WhatsApp, or an old app version)",
    131049: "Meta chose not to deliver this marketing message to keep engagement healthy",
    131050: "the user stopped marketing messages from this business",
    131051: "WhatsApp does not support this message type",
    131021: "the recipient is the sender's own number",
    132000: "the number of parameters does not match the template",
    132001: "the template does not exist in this language or is not approved",
    132007: "the template's content breaks WhatsApp's policy",
    132015: "the template is paused for low quality",
    132016: "the template is disabled for low quality",
    190: "the access token is invalid or expired",
    100: "WhatsApp refused a parameter of the request",
    368: "the WhatsApp account is temporarily blocked for policy violations",
    131031: "the WhatsApp Business Account is locked",
}
STATUS: dict[str, ReceiptStatus] = {"delivered": "delivered", "read": "opened", "failed": "failed"}


def recipient(to: str | None) -> str:
    return (to or "").strip().lstrip("+")


def is_template(content: dict[str, Any]) -> bool:
    return bool(content.get("external_id"))


def body_of(message: Outgoing) -> dict[str, Any]:
    """The Cloud API request body for a message."""
    content = message.content
    body: dict[str, Any] = {"messaging_product": "whatsapp", "recipient_type": "individual",
                            "to": recipient(message.to)}
    if is_template(content):
        template: dict[str, Any] = {"name": content["external_id"], "language": {"code": content.get("language") or "en"}}
        params = content.get("params") or []
        if params:
            template["components"] = [{"type": "body",
                                       "parameters": [{"type": "text", "text": str(p)} for p in params]}]
        body.update(type="template", template=template)
    else:
        text = content.get("text") or content.get("body") or ""
        body.update(type="text", text={"preview_url": bool(content.get("preview_url", False)), "body": str(text)})
    return body


def outcome_of(response: httpx.Response) -> Result:
    answer = chat.json_answer(response) or {}
    if 200 <= response.status_code < 300:
        messages = answer.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict) and messages[0].get("id"):
            return Result("accepted", provider_message_id=str(messages[0]["id"]))
        return Result("retryable", reason="WhatsApp answered without a message id")
    error: dict[str, Any] = answer["error"] if isinstance(answer.get("error"), dict) else {}
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    said = details or error.get("message") or ""
    suffix = f" (WhatsApp error {code}{': ' + chat_excerpt(said) if said else ''})" if code is not None else ""
    if code in RETRYABLE:
        return Result("retryable", reason=RETRYABLE[code] + suffix, retry_after=chat.retry_after(response))
    if code in PERMANENT:
        return Result("permanent", reason=PERMANENT[code] + suffix)
    if response.status_code == 429 or response.status_code >= 500:
        return Result("retryable", reason=f"WhatsApp answered {response.status_code}{suffix}",
                      retry_after=chat.retry_after(response))
    return Result("permanent", reason=f"WhatsApp refused the message ({response.status_code}){suffix}")


def chat_excerpt(text: str, limit: int = 200) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[:limit] + "…"


@register
class WhatsappProvider(Provider):
    kind = "whatsapp"
    channels = frozenset({"whatsapp"})
    max_batch = 50  # one call per message, chat.CONCURRENCY at a time

    def url(self) -> str:
        settings = self.config.settings
        version = settings.get("api_version") or DEFAULT_API_VERSION
        return f"{chat.base_url(self, DEFAULT_BASE)}/{version}/{settings.get('phone_number_id', '')}/messages"

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        found = chat.credentials(self, ("access_token",))
        if isinstance(found, Result):
            return [found] * len(batch)
        token = str(found["access_token"])
        free = [i for i, m in enumerate(batch) if not is_template(m.content)]
        closed = chat.outside_window([batch[i] for i in free], "whatsapp", clock.now())
        refused = {free[i]: result for i, result in closed.items()}
        url, http = self.url(), chat.client()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

        def one(index: int) -> Result:
            message = batch[index]
            if not recipient(message.to):
                return Result("permanent", reason="the profile has no whatsapp address")
            if index in refused:
                return refused[index]
            answer = chat.call(lambda: http.post(url, json=body_of(message), headers=headers), LABEL)
            return answer if isinstance(answer, Result) else outcome_of(answer)

        return chat.in_parallel(one, list(range(len(batch))))


# ------------------------------------------------------------------------- webhook
@register_callback("whatsapp")
def parse_callback(provider: Provider, callback: Callback) -> CallbackResult:
    """GET: the subscription handshake. POST: statuses and messages, signed with the app secret."""
    if callback.method.upper() == "GET":
        if callback.query.get("hub.mode") != "subscribe":
            raise CallbackMalformed("a WhatsApp verification request has hub.mode=subscribe")
        expected = chat.callback_credential(provider, "verify_token")
        if not hmac.compare_digest(callback.query.get("hub.verify_token", "").encode(), expected.encode()):
            raise CallbackRejected("hub.verify_token does not match the provider's verify_token")
        return CallbackResult(reply=(200, callback.query.get("hub.challenge", ""), "text/plain"))
    secret = chat.callback_credential(provider, "app_secret")
    signature = callback.headers.get("x-hub-signature-256", "")
    if not signature.startswith("sha256=") or \
            not chat.same(signature[len("sha256="):], chat.hmac_sha256_hex(secret, callback.body)):
        raise CallbackRejected("X-Hub-Signature-256 does not sign the body with the app secret")
    return parse_payload(chat.parse_json(callback.body))


def parse_payload(document: dict[str, Any]) -> CallbackResult:
    entries = document.get("entry")
    if document.get("object") != "whatsapp_business_account" or not isinstance(entries, list):
        raise CallbackMalformed("not a WhatsApp Business Account notification (object, entry)")
    receipts: list[Receipt] = []
    inbound: list[InboundMessage] = []
    for entry in entries:
        for change in (entry.get("changes") or []) if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            if not isinstance(value, dict):
                raise CallbackMalformed("a change has no value")
            for status in value.get("statuses") or []:
                receipt = _receipt(status)
                if receipt is not None:
                    receipts.append(receipt)
            for message in value.get("messages") or []:
                inbound.append(_inbound(message))
    return CallbackResult(receipts=receipts, inbound=inbound)


def _receipt(status: Any) -> Receipt | None:
    if not isinstance(status, dict) or not status.get("id") or not status.get("status"):
        raise CallbackMalformed("a status has no id or status")
    mapped = STATUS.get(str(status["status"]))
    if mapped is None:
        return None  # "sent" (and anything newer): the send already recorded it as accepted
    reason = None
    if mapped == "failed":
        errors = status.get("errors") or []
        first = errors[0] if errors and isinstance(errors[0], dict) else {}
        code = first.get("code")
        details = (first.get("error_data") or {}).get("details") if isinstance(first.get("error_data"), dict) else None
        known = code if isinstance(code, int) else -1
        words = PERMANENT.get(known) or RETRYABLE.get(known) or details or first.get("title") or first.get("message")
        reason = f"{words} (WhatsApp error {code})" if code is not None else (words or "WhatsApp could not deliver it")
    return Receipt(provider_message_id=str(status["id"]), status=mapped,
                   at=chat.from_unix(status.get("timestamp")), reason=reason,
                   address=str(status.get("recipient_id") or "") or None)


def _inbound(message: Any) -> InboundMessage:
    if not isinstance(message, dict) or not message.get("from") or not message.get("type"):
        raise CallbackMalformed("a message has no sender (from) or type")
    kind = str(message["type"])
    text: str | None = None
    payload: dict[str, Any] = {"type": kind}
    if kind == "text":
        text = str((message.get("text") or {}).get("body", ""))
    elif kind == "button":
        button = message.get("button") or {}
        text, payload["payload"] = button.get("text"), button.get("payload")
    elif kind == "interactive":
        interactive = message.get("interactive") or {}
        reply_kind = interactive.get("type")
        reply = interactive.get(reply_kind) if reply_kind in ("button_reply", "list_reply") else None
        if not isinstance(reply, dict):
            raise CallbackMalformed("an interactive message has no button_reply or list_reply")
        payload.update(reply_type=reply_kind, id=reply.get("id"))
        if reply.get("description"):
            payload["description"] = reply["description"]
        text = reply.get("title")
    elif isinstance(message.get(kind), dict):
        media = message[kind]
        payload.update({k: media[k] for k in ("id", "mime_type", "caption", "filename") if k in media})
        text = media.get("caption")
    context = message.get("context")
    if isinstance(context, dict) and context.get("id"):
        payload["in_reply_to"] = context["id"]
    return InboundMessage(channel="whatsapp", address=str(message["from"]), at=chat.from_unix(message.get("timestamp")),
                          text=text, payload={k: v for k, v in payload.items() if v is not None},
                          provider_message_id=str(message["id"]) if message.get("id") else None)
