"""AWS End User Messaging SMS (``pinpoint-sms-voice-v2``): ``SendTextMessage``, one call
per message.

Follows the AWS End User Messaging SMS and Voice v2 API reference, "SendTextMessage".
Settings: ``origination_identity`` (a phone number, sender id, pool id or their ARN;
absent, AWS picks one), ``configuration_set`` (its event destination publishes the
delivery receipts), ``message_type`` (``transactional`` or ``promotional``; a message's
own ``message_type`` in its content wins), ``region`` and ``endpoint``. No credentials:
the Lambda's role sends (``sms-voice:SendTextMessage``).

Content: ``body`` (``text`` is taken too). The message key goes in ``Context`` (it comes
back in the delivery events); the provider message id is the answer's ``MessageId``.
"""
from __future__ import annotations

from typing import Any

from chalicelib.providers import aws_calls
from chalicelib.providers.base import Outgoing, register

SERVICE = "AWS End User Messaging SMS"
MESSAGE_TYPES = ("TRANSACTIONAL", "PROMOTIONAL")
MAX_BODY = 1600  # characters SendTextMessage takes
RETRYABLE = frozenset({"ThrottlingException", "InternalServerException"})
CONFLICTS = {
    "DESTINATION_PHONE_NUMBER_OPTED_OUT": "the recipient's phone number opted out of SMS from this sender",
    "DESTINATION_PHONE_NUMBER_NOT_VERIFIED": "the destination number is not verified (the account is in the SMS sandbox)",
    "NO_ORIGINATION_IDENTITIES_FOUND": "no origination identity can send to this destination",
    "MESSAGE_TYPE_MISMATCH": "the origination identity does not send this message type",
}
QUOTAS = {
    "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT": "the account's monthly SMS spend limit is reached",
    "DAILY_DESTINATION_CALL_LIMIT": "the daily limit of messages to this destination is reached",
}


def _describe(code: str, message: str, fields: dict[str, Any]) -> str | None:
    reason = str(fields.get("Reason") or "")
    tail = f" ({code}{' ' + reason if reason else ''})"
    if code == "ConflictException" and reason in CONFLICTS:
        return CONFLICTS[reason] + tail
    if code == "ServiceQuotaExceededException":
        return QUOTAS.get(reason, f"an SMS quota of the account is exceeded: {message}") + tail
    if code == "ValidationException":
        return f"{SERVICE} found the message invalid: {message or reason.lower().replace('_', ' ')}{tail}"
    if code in ("AccessDeniedException", "ResourceNotFoundException", "ConflictException"):
        return f"{SERVICE} refused the message: {message or 'no reason given'}{tail}"
    return None


def message_type(message: Outgoing, settings: dict[str, Any]) -> str | None:
    value = message.content.get("message_type") or settings.get("message_type")
    return str(value).upper() if value else None


def request(message: Outgoing, settings: dict[str, Any]) -> dict[str, Any] | str:
    """The SendTextMessage parameters for a message, or why it cannot be sent (pure)."""
    body = message.content.get("body") or message.content.get("text")
    if not message.to:
        return "the recipient has no phone number"
    if not body:
        return "the SMS has no body"
    if len(body) > MAX_BODY:
        return f"the SMS body is {len(body)} characters; {SERVICE} takes at most {MAX_BODY}"
    kind = message_type(message, settings)
    if kind is not None and kind not in MESSAGE_TYPES:
        return "the message type is transactional or promotional"
    params: dict[str, Any] = {"DestinationPhoneNumber": message.to, "MessageBody": body,
                              "Context": {"message_key": message.message_key}}
    if kind:
        params["MessageType"] = kind
    if settings.get("origination_identity"):
        params["OriginationIdentity"] = settings["origination_identity"]
    if settings.get("configuration_set"):
        params["ConfigurationSetName"] = settings["configuration_set"]
    return params


@register
class EndUserMessagingSmsProvider(aws_calls.AwsProvider):
    kind = "sms_aws"
    channels = frozenset({"sms"})
    max_batch = 20
    client_service = "pinpoint-sms-voice-v2"
    operation = "send_text_message"
    service_name = SERVICE
    retryable_codes = RETRYABLE
    request = staticmethod(request)

    def describe(self, code: str, message: str, fields: dict[str, Any]) -> str | None:
        return _describe(code, message, fields)
