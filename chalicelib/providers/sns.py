"""Amazon SNS: ``Publish`` straight to a phone number (SMS), one call per message.

Follows the Amazon SNS API reference, "Publish" (with ``PhoneNumber``), and the message
attributes of "Publishing to a mobile phone" (``AWS.SNS.SMS.SenderID``,
``AWS.SNS.SMS.SMSType``). Settings: ``sender_id`` (where the destination country
supports one), ``message_type`` (``transactional`` or ``promotional``; the message's own
``message_type`` in its content wins), ``region`` and ``endpoint``. No credentials: the
Lambda's role sends (``sns:Publish``).

Content: ``body`` (``text`` is taken too). The provider message id is the answer's
``MessageId``; SNS reports SMS deliveries only to its delivery-status logs (CloudWatch
Logs), not per message to us.
"""
from __future__ import annotations

from typing import Any

from chalicelib.providers import aws_calls
from chalicelib.providers.base import Outgoing, register

SERVICE = "Amazon SNS"
SMS_TYPES = {"TRANSACTIONAL": "Transactional", "PROMOTIONAL": "Promotional"}
MAX_BODY_BYTES = 1600
RETRYABLE = frozenset({"Throttling", "ThrottlingException", "ThrottledException", "InternalError",
                       "InternalErrorException", "KMSThrottling", "KMSThrottlingException", "ServiceUnavailable"})


def request(message: Outgoing, settings: dict[str, Any]) -> dict[str, Any] | str:
    """The Publish parameters for a message, or why it cannot be sent (pure)."""
    body = message.content.get("body") or message.content.get("text")
    if not message.to:
        return "the recipient has no phone number"
    if not body:
        return "the SMS has no body"
    size = len(body.encode())
    if size > MAX_BODY_BYTES:
        return f"the SMS body is {size} bytes; {SERVICE} takes at most {MAX_BODY_BYTES}"
    attributes: dict[str, Any] = {}
    kind = message.content.get("message_type") or settings.get("message_type")
    if kind:
        if str(kind).upper() not in SMS_TYPES:
            return "the message type is transactional or promotional"
        attributes["AWS.SNS.SMS.SMSType"] = {"DataType": "String", "StringValue": SMS_TYPES[str(kind).upper()]}
    if settings.get("sender_id"):
        attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": settings["sender_id"]}
    params: dict[str, Any] = {"PhoneNumber": message.to, "Message": body}
    if attributes:
        params["MessageAttributes"] = attributes
    return params


@register
class SnsSmsProvider(aws_calls.AwsProvider):
    kind = "sns"
    channels = frozenset({"sms"})
    max_batch = 20
    client_service = "sns"
    operation = "publish"
    service_name = SERVICE
    retryable_codes = RETRYABLE
    request = staticmethod(request)
