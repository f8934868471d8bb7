"""Twilio Programmable Messaging (SMS and WhatsApp).

Followed: "Message resource" (Create a Message: POST
/2010-04-01/Accounts/{AccountSid}/Messages.json, HTTP Basic auth with the Account SID and
Auth Token, form-encoded To, From or MessagingServiceSid, Body, StatusCallback),
"Outbound Message Status in Status Callbacks", "Webhooks security" (X-Twilio-Signature)
and the error dictionary (20429, 21211, 21610, 21614, ...).

Settings: ``from_number`` (E.164; for WhatsApp without the ``whatsapp:`` prefix, which is
added) or ``messaging_service_sid``. Status callbacks go to our receipts URL
(``<public base>/v1/receipts/<provider>?ws=<workspace>``), signed by Twilio with the
account's Auth Token: ``Base64(HMAC-SHA1(auth_token, url + concat(sorted(name + value))))``
over the URL exactly as called and the POST parameters sorted by name.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, quote

import httpx

from chalicelib import clock
from chalicelib.config import settings as app_settings
from chalicelib.providers import aliyun
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, Outgoing, Provider, ProviderConfig, Receipt,
    ReceiptStatus, Result, register, register_callback,
)

ENDPOINT = "https://api.twilio.com"
CLIENT = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))
CONCURRENCY = 8
# Published defaults (rate limit, cost): providers_config.KINDS, with their sources.

# Error dictionary: these mean the recipient cannot be reached; the reason starts with
# "unsubscribed" for 21610 so the sender's suppression can recognise an opt-out (STOP).
UNSUBSCRIBED = 21610
PERMANENT_REASONS = {
    21211: "invalid 'To' phone number",
    21610: "unsubscribed: the recipient replied STOP to this sender",
    21614: "'To' number is not a valid mobile number",
    21408: "permission to send to this region is not enabled",
    21612: "the 'To' number cannot be reached from this sender",
    63016: "outside the WhatsApp 24-hour window: a template is required",
}
RETRYABLE_ERRORS = frozenset({20429, 20500, 20503, 30001})

# MessageStatus in status callbacks -> our receipts (queued/sending/sent/accepted are
# intermediate states: no receipt).
STATUS: dict[str, ReceiptStatus] = {"delivered": "delivered", "read": "opened",
                                    "undelivered": "failed", "failed": "failed"}


def callback_url(provider: Provider) -> str:
    return (f"{app_settings.public_base_url}/v1/receipts/{quote(provider.name)}"
            f"?ws={quote(provider.config.workspace_id)}")


def _address(number: str, channel: str) -> str:
    return f"whatsapp:{number}" if channel == "whatsapp" and not number.startswith("whatsapp:") else number


def message_form(provider: Provider, message: Outgoing) -> dict[str, str]:
    settings = provider.config.settings
    form = {"To": _address(message.to or "", message.channel), "Body": str(message.content.get("body") or ""),
            "StatusCallback": callback_url(provider)}
    if settings.get("messaging_service_sid"):
        form["MessagingServiceSid"] = str(settings["messaging_service_sid"])
    else:
        form["From"] = _address(str(settings["from_number"]), message.channel)
    return form


@register
class Twilio(Provider):
    kind = "twilio"
    channels = frozenset({"sms", "whatsapp"})
    max_batch = 50  # our chunk; Twilio creates one message per request

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        if not batch:
            return []
        credentials = self.config.credentials()
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            return list(pool.map(lambda m: self._send_one(credentials, m), batch))

    def _send_one(self, credentials: Mapping[str, Any], message: Outgoing) -> Result:
        settings = self.config.settings
        if not message.to:
            return Result("permanent", reason="no phone number for this recipient")
        if not message.content.get("body"):
            return Result("permanent", reason="a Twilio message needs a body")
        if not (settings.get("messaging_service_sid") or settings.get("from_number")):
            return Result("permanent", reason="the provider needs from_number or messaging_service_sid")
        sid = str(credentials["account_sid"])
        url = f"{(self.config.endpoint or ENDPOINT).rstrip('/')}/2010-04-01/Accounts/{quote(sid)}/Messages.json"
        try:
            response = CLIENT.post(url, data=message_form(self, message),
                                   auth=(sid, str(credentials["auth_token"])))
        except httpx.HTTPError as exc:
            return Result("retryable", reason=f"Twilio did not answer ({type(exc).__name__})")
        result = result_of(response.status_code, _json(response), response.headers.get("retry-after"))
        if result.reason and result.reason.startswith("unsubscribed"):
            suppress_opt_out(message)
        return result


def suppress_opt_out(message: Outgoing) -> None:
    """Twilio 21610: the number opted out (STOP); suppress it so no later send tries again."""
    from chalicelib.sending import repo_fatigue

    repo_fatigue.suppress(message.workspace_id, message.channel, message.to or "", "unsubscribe", clock.now())


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def result_of(status: int, body: Mapping[str, Any], retry_after: str | None = None) -> Result:
    if status in (200, 201) and body.get("sid"):
        return Result("accepted", provider_message_id=str(body["sid"]))
    code = body.get("code")
    code = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
    detail = str(body.get("message") or f"HTTP {status}")
    if status == 429 or status >= 500 or code in RETRYABLE_ERRORS:
        return Result("retryable", reason=f"Twilio {code or status}: {detail}",
                      retry_after=aliyun.retry_after_seconds(retry_after))
    if code in PERMANENT_REASONS:
        return Result("permanent", reason=f"{PERMANENT_REASONS[code]} (Twilio {code})")
    return Result("permanent", reason=f"Twilio {code or status}: {detail}")


# --------------------------------------------------------------------------- status callbacks

def expected_signature(auth_token: str, url: str, params: Mapping[str, str]) -> str:
    data = url + "".join(name + params[name] for name in sorted(params))
    return base64.b64encode(hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def verify(auth_token: str, url: str, params: Mapping[str, str], signature: str) -> bool:
    return hmac.compare_digest(expected_signature(auth_token, url, params).encode(), signature.encode())


@register_callback("twilio")
def handle_status(provider: Provider, callback: Callback) -> CallbackResult:
    try:
        pairs = parse_qsl(callback.body.decode(), keep_blank_values=True, strict_parsing=bool(callback.body))
    except (UnicodeDecodeError, ValueError):
        pairs = None
    signature = callback.headers.get("x-twilio-signature", "")
    token = str(provider.config.credentials().get("auth_token") or "")
    if pairs is None or not signature or not token or not verify(token, callback.url, dict(pairs), signature):
        raise CallbackRejected("the X-Twilio-Signature does not verify")
    params = dict(pairs)
    sid = params.get("MessageSid") or params.get("SmsSid")
    status = params.get("MessageStatus") or params.get("SmsStatus")
    if not sid or not status:
        raise CallbackMalformed("a status callback carries MessageSid and MessageStatus")
    mapped = STATUS.get(status)
    if mapped is None:
        return CallbackResult()
    reason = None
    if mapped == "failed":
        code = params.get("ErrorCode")
        reason = f"Twilio {status}" + (f" (error {code})" if code else "")
        if code and code.isdigit() and int(code) in PERMANENT_REASONS:
            reason = f"{PERMANENT_REASONS[int(code)]} (Twilio {code})"
    at: datetime = clock.now()  # status callbacks carry no timestamp
    return CallbackResult(receipts=[Receipt(provider_message_id=sid, status=mapped, at=at, reason=reason,
                                            address=params.get("To"))])
