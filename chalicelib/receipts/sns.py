"""Callbacks of the ``ses`` provider: SES event notifications delivered by Amazon SNS.

Verification (before anything is read from the message): the SNS signature, version 1
(SHA1withRSA) or 2 (SHA256withRSA), over the canonical string the SNS documentation
defines for each message type, with the certificate at ``SigningCertURL``, which must be
https on ``sns.<region>.amazonaws.com`` (or ``.amazonaws.com.cn``): any other URL is
refused before it is fetched. A valid signature proves only that SNS sent the message, not
that it came from our topic: the message's ``TopicArn`` must be the account's
``settings.sns_topic_arn``, else anyone with an AWS account could post us bounces.

``SubscriptionConfirmation`` (once, when the topic subscribes this URL) is confirmed by
fetching its ``SubscribeURL`` (same host rule) and answered 200. A replayed notification is
harmless (receipts are idempotent), so there is no timestamp window: SNS itself retries a
delivery for up to an hour or more.

SES event types: Delivery -> delivered; Bounce: Permanent -> bounced (the address is
suppressed), Transient or Undetermined -> failed (not delivered, address kept: a full
mailbox or an auto-reply is no reason to stop mailing someone); Complaint -> complained
(suppressed); Open -> opened; Click -> clicked; Reject and Rendering Failure -> failed.
Send, DeliveryDelay and Subscription carry no status change and are ignored.

Tests replace ``cert_policy`` and ``fetch`` (module attributes, never anything a request
says) to sign with their own certificate served by a local HTTP server.
"""
from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib import clock, logs
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, Provider, Receipt, register_callback,
)

NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
MAX_CERTIFICATES = 32
FETCH_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class CertPolicy:
    """Which URLs may be fetched (certificates and subscription confirmations)."""

    schemes: frozenset[str] = frozenset({"https"})
    host: re.Pattern[str] = re.compile(r"^sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")
    ports: frozenset[int | None] = frozenset({None, 443})

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        return (parts.scheme in self.schemes and parts.username is None and parts.password is None
                and bool(parts.hostname) and bool(self.host.fullmatch(parts.hostname or "")) and port in self.ports)


cert_policy = CertPolicy()


def _fetch(url: str) -> bytes:
    response = httpx.get(url, timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False)
    response.raise_for_status()
    return response.content


fetch: Callable[[str], bytes] = _fetch
_certificates: dict[str, Any] = {}
_lock = threading.Lock()


def _public_key(url: str) -> rsa.RSAPublicKey:
    """The certificate's public key, fetched once per URL per process."""
    with _lock:
        cached = _certificates.get(url)
    if cached is not None:
        return cached
    try:
        certificate = x509.load_pem_x509_certificate(fetch(url))
    except (httpx.HTTPError, ValueError):
        raise CallbackRejected("the signing certificate could not be fetched or read") from None
    key = certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        raise CallbackRejected("the signing certificate does not hold an RSA key")
    with _lock:
        if len(_certificates) >= MAX_CERTIFICATES:
            _certificates.clear()
        _certificates[url] = key
    return key


def canonical_string(message: dict[str, Any]) -> bytes:
    """What SNS signs: "Key\\nValue\\n" for the type's keys in order (Subject only when present)."""
    keys = NOTIFICATION_KEYS if message.get("Type") == "Notification" else CONFIRMATION_KEYS
    text = "".join(f"{k}\n{message[k]}\n" for k in keys if k in message and not (k == "Subject" and message[k] is None))
    return text.encode()


def verify_sns_message(message: dict[str, Any]) -> None:
    """Raise ``CallbackRejected`` unless SNS signed this message (see the module's docstring)."""
    version = str(message.get("SignatureVersion", ""))
    algorithm = {"1": hashes.SHA1(), "2": hashes.SHA256()}.get(version)
    if algorithm is None:
        raise CallbackRejected("SignatureVersion must be 1 or 2")
    url = str(message.get("SigningCertURL") or message.get("SigningCertUrl") or "")
    if not cert_policy.allows(url):
        raise CallbackRejected("SigningCertURL is not an https URL on an sns.<region>.amazonaws.com host")
    required = NOTIFICATION_KEYS if message.get("Type") == "Notification" else CONFIRMATION_KEYS
    missing = [k for k in required if k != "Subject" and k not in message]
    if missing:
        raise CallbackRejected(f"the SNS message lacks {', '.join(missing)}")
    try:
        signature = base64.b64decode(str(message.get("Signature", "")), validate=True)
    except ValueError:
        raise CallbackRejected("Signature is not base64") from None
    try:
        _public_key(url).verify(signature, canonical_string(message), padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        raise CallbackRejected("the SNS signature does not verify") from None


def _read(callback: Callback) -> dict[str, Any]:
    try:
        message = json.loads(callback.body)
    except (ValueError, UnicodeDecodeError):
        raise CallbackMalformed("the body is not an SNS message (JSON)") from None
    if not isinstance(message, dict) or message.get("Type") not in (
            "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"):
        raise CallbackMalformed("the body is not an SNS message (Type is missing or unknown)")
    return message


def handle_sns(provider: Provider, callback: Callback) -> CallbackResult:
    """Verify, check the topic, then confirm a subscription or parse SES events."""
    if callback.method != "POST":
        raise CallbackMalformed("SNS POSTs its messages")
    message = _read(callback)
    verify_sns_message(message)
    expected_topic = provider.config.settings.get("sns_topic_arn")
    if not expected_topic:
        raise CallbackRejected("set settings.sns_topic_arn on the provider to the topic SES publishes to")
    if message.get("TopicArn") != expected_topic:
        raise CallbackRejected("the message comes from another SNS topic than settings.sns_topic_arn")
    if message["Type"] == "SubscriptionConfirmation":
        confirm(str(message["SubscribeURL"]))
        return CallbackResult(reply=(200, "subscribed", "text/plain"))
    if message["Type"] == "UnsubscribeConfirmation":
        return CallbackResult()
    try:
        event = json.loads(message["Message"])
    except (ValueError, TypeError):
        raise CallbackMalformed("the notification's Message is not an SES event (JSON)") from None
    return CallbackResult(receipts=ses_receipts(event))


def confirm(subscribe_url: str) -> None:
    """Confirm the subscription by fetching its SubscribeURL (only from an SNS host)."""
    if not cert_policy.allows(subscribe_url):
        raise CallbackRejected("SubscribeURL is not an https URL on an sns.<region>.amazonaws.com host")
    try:
        fetch(subscribe_url)
    except httpx.HTTPError:
        raise CallbackMalformed("SNS did not accept the subscription confirmation; it will send it again") from None
    logs.logger.info("SNS subscription confirmed", extra={"url_host": urlsplit(subscribe_url).hostname})


def _time(value: Any, fallback: Any) -> Any:
    try:
        return clock.parse_iso(str(value))
    except clock.BadTime:
        return clock.parse_iso(str(fallback)) if fallback else clock.now()


def ses_receipts(event: dict[str, Any]) -> list[Receipt]:
    """The receipts of one SES event (event publishing's ``eventType``, or the older
    notifications' ``notificationType``); none for types without a status change."""
    if not isinstance(event, dict):
        raise CallbackMalformed("the SES event is not a JSON object")
    kind = event.get("eventType") or event.get("notificationType")
    mail = event.get("mail") or {}
    message_id = mail.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise CallbackMalformed("the SES event has no mail.messageId")
    sent_at = mail.get("timestamp")
    if kind == "Delivery":
        d = event.get("delivery") or {}
        return [Receipt(message_id, "delivered", _time(d.get("timestamp"), sent_at))]
    if kind == "Bounce":
        b = event.get("bounce") or {}
        at = _time(b.get("timestamp"), sent_at)
        permanent = b.get("bounceType") == "Permanent"
        recipients = [r for r in b.get("bouncedRecipients") or [] if isinstance(r, dict)] or [{}]
        out = []
        for r in recipients:
            reason = "; ".join(str(x) for x in (b.get("bounceType"), b.get("bounceSubType"), r.get("diagnosticCode")) if x)
            out.append(Receipt(message_id, "bounced" if permanent else "failed", at, f"bounce: {reason}",
                               address=r.get("emailAddress") if permanent else None))
        return out
    if kind == "Complaint":
        c = event.get("complaint") or {}
        at = _time(c.get("timestamp"), sent_at)
        recipients = [r for r in c.get("complainedRecipients") or [] if isinstance(r, dict)] or [{}]
        why = c.get("complaintFeedbackType")
        return [Receipt(message_id, "complained", at, f"complaint: {why}" if why else "complaint",
                        address=r.get("emailAddress")) for r in recipients]
    if kind == "Open":
        return [Receipt(message_id, "opened", _time((event.get("open") or {}).get("timestamp"), sent_at))]
    if kind == "Click":
        c = event.get("click") or {}
        return [Receipt(message_id, "clicked", _time(c.get("timestamp"), sent_at), url=c.get("link"))]
    if kind == "Reject":
        why = (event.get("reject") or {}).get("reason") or "rejected"
        return [Receipt(message_id, "failed", _time(sent_at, None), f"SES rejected the message: {why}")]
    if kind == "Rendering Failure":
        why = (event.get("failure") or {}).get("errorMessage") or "rendering failed"
        return [Receipt(message_id, "failed", _time(sent_at, None), f"SES could not render the message: {why}")]
    return []


register_callback("ses")(handle_sns)
