"""Helpers for the receipts tests: a provider account, a message the sender recorded as
sent, signed receipts, and an SNS signer with its own key and certificate."""
from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from chalicelib import clock

SES_TOPIC = "arn:aws:sns:us-east-1:123456789012:ses-events"


def put_sandbox(api: Any, workspace: Any, name: str = "sbx", **settings: Any) -> str:
    """A sandbox account; returns its generated receipt secret."""
    from chalicelib.sending import repo_providers

    r = api.put(f"/v1/providers/{name}", {"channel": "sms", "kind": "sandbox", "settings": settings},
                key=workspace.admin_key)
    assert r.status == 200, r.json
    return repo_providers.read_credentials(workspace.id, name)["receipt_secret"]


def put_ses(api: Any, workspace: Any, name: str = "mail", topic: str = SES_TOPIC) -> None:
    r = api.put(f"/v1/providers/{name}", {"channel": "email", "kind": "ses", "settings": {
        "from_address": "shop@example.com", "sns_topic_arn": topic}}, key=workspace.admin_key)
    assert r.status == 200, r.json


def sent_message(workspace_id: str, provider: str, provider_message_id: str, *, user_id: str = "u1",
                 task_id: str = "t1", channel: str = "sms", campaign_id: str | None = None,
                 now: datetime | None = None) -> Any:
    """A message through the sender's own writes (claim, then outcome "sent"); its key."""
    from chalicelib.sending import messages, repo_messages
    from chalicelib.sending.messages import MessageKey

    moment = now or clock.now()
    key = MessageKey(workspace_id, user_id, task_id=task_id)
    meta = repo_messages.Meta(user_id, channel, provider, "sandbox", campaign_id)
    assert repo_messages.claim(repo_messages.ClaimWrite(key, meta, "token", moment + timedelta(seconds=90), moment, None))
    history = messages.with_history((), messages.CLAIMED, clock.iso(moment), None)
    written = messages.after_call(history, "accepted", clock.iso(moment), reason=None,
                                  provider_message_id=provider_message_id, cost=0.01)
    assert repo_messages.record_outcome(repo_messages.OutcomeWrite(key, "token", written, provider, moment,
                                                                    campaign_id))
    return key


def status_of(key: Any) -> str:
    from chalicelib.sending import repo_messages

    return repo_messages.read([key])[key].status


def receipts_body(*receipts: dict[str, Any]) -> bytes:
    return json.dumps({"receipts": list(receipts)}).encode()


def signed(secret: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    from chalicelib.receipts.hmac_receipts import signed_headers

    return {"Content-Type": "application/json", **signed_headers(secret, body, now or clock.now())}


def iso(seconds: float = 0) -> str:
    return clock.iso(clock.now() + timedelta(seconds=seconds))


class SnsSigner:
    """Signs SNS messages as SNS does, with a key and self-signed certificate of its own."""

    def __init__(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import rsa
        from cryptography.x509.oid import NameOID

        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.us-east-1.amazonaws.com")])
        now = datetime.now(timezone.utc)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(self.key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
                .not_valid_after(now + timedelta(days=30)).sign(self.key, hashes.SHA256()))
        self.pem = cert.public_bytes(serialization.Encoding.PEM)

    def sign(self, message: dict[str, Any], version: str = "1") -> dict[str, Any]:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        from chalicelib.receipts.sns import canonical_string

        message = {**message, "SignatureVersion": version}
        algorithm = hashes.SHA1() if version == "1" else hashes.SHA256()
        signature = self.key.sign(canonical_string(message), padding.PKCS1v15(), algorithm)
        return {**message, "Signature": base64.b64encode(signature).decode()}


def ses_notification(cert_url: str, event: dict[str, Any], topic: str = SES_TOPIC) -> dict[str, Any]:
    return {"Type": "Notification", "MessageId": "sns-1", "TopicArn": topic, "Message": json.dumps(event),
            "Timestamp": "2026-11-26T09:00:00.000Z", "SigningCertURL": cert_url,
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe"}


def ses_event(kind: str, message_id: str, **detail: Any) -> dict[str, Any]:
    return {"eventType": kind, "mail": {"messageId": message_id, "timestamp": "2026-11-26T08:59:00.000Z",
                                        "destination": ["ann@example.com"]}, **detail}
