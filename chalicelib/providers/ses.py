"""Amazon SES v2 (email): ``SendEmail`` with simple content, one call per message.

Follows the Amazon SES API v2 reference, "SendEmail". Settings: ``from_address``
(required; a verified identity, "Name <addr>" allowed), ``configuration_set`` (the
configuration set whose event destination publishes sends, deliveries, bounces,
complaints, opens and clicks: the receipts), ``region`` and ``endpoint``. No credentials:
the Lambda's role sends (``ses:SendEmail`` on the identity and the configuration set).

Content: ``subject``, ``html`` and/or ``text``, and ``headers`` (a map; the sender puts
the RFC 8058 ``List-Unsubscribe`` and ``List-Unsubscribe-Post`` headers there), sent as
the message's own headers (``Content.Simple.Headers``). The provider message id is SES's
``MessageId``, the ``mail.messageId`` of every SES event for that message.
"""
from __future__ import annotations

from typing import Any

from chalicelib.providers import aws_calls
from chalicelib.providers.base import Outgoing, register

SERVICE = "SES"
MAX_HEADERS = 15  # SES's limit on custom headers per message
RETRYABLE = frozenset({"TooManyRequestsException", "LimitExceededException", "Throttling", "ThrottlingException",
                       "InternalFailure", "ServiceUnavailable"})
REASONS = {
    "MessageRejected": "SES rejected the message",
    "MailFromDomainNotVerifiedException": "the MAIL FROM domain of the sending identity is not verified in SES",
    "AccountSuspendedException": "the SES account is suspended from sending",
    "SendingPausedException": "sending is paused for the SES account or its configuration set",
    "NotFoundException": "SES does not know a resource the message names (configuration set or identity)",
    "BadRequestException": "SES found the request invalid",
}


def _describe(code: str, message: str, fields: dict[str, Any]) -> str | None:
    words = REASONS.get(code)
    if words is None:
        return None
    return f"{words}: {message} ({code})" if message else f"{words} ({code})"


def request(message: Outgoing, settings: dict[str, Any]) -> dict[str, Any] | str:
    """The SendEmail parameters for a message, or why it cannot be sent (pure)."""
    content = message.content
    if not settings.get("from_address"):
        return "the SES provider has no from_address setting"
    if not message.to:
        return "the recipient has no email address"
    subject, html, text = content.get("subject"), content.get("html"), content.get("text")
    if not subject:
        return "the email has no subject"
    if not html and not text:
        return "the email has neither html nor text"
    headers = dict(content.get("headers") or {})
    if len(headers) > MAX_HEADERS:
        return f"SES takes at most {MAX_HEADERS} custom headers ({len(headers)} given)"
    body: dict[str, Any] = {}
    if html:
        body["Html"] = {"Data": html, "Charset": "UTF-8"}
    if text:
        body["Text"] = {"Data": text, "Charset": "UTF-8"}
    simple: dict[str, Any] = {"Subject": {"Data": subject, "Charset": "UTF-8"}, "Body": body}
    if headers:
        simple["Headers"] = [{"Name": str(k), "Value": str(v)} for k, v in headers.items()]
    params: dict[str, Any] = {
        "FromEmailAddress": settings["from_address"],
        "Destination": {"ToAddresses": [message.to]},
        "Content": {"Simple": simple},
    }
    if settings.get("configuration_set"):
        params["ConfigurationSetName"] = settings["configuration_set"]
    return params


@register
class SesProvider(aws_calls.AwsProvider):
    kind = "ses"
    channels = frozenset({"email"})
    max_batch = 50
    client_service = "sesv2"
    operation = "send_email"
    service_name = SERVICE
    retryable_codes = RETRYABLE
    request = staticmethod(request)

    def describe(self, code: str, message: str, fields: dict[str, Any]) -> str | None:
        return _describe(code, message, fields)
