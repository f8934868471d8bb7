"""What the AWS adapters (SES, End User Messaging SMS, SNS) share: calling the service once
per message, a few at a time, and turning botocore's errors into results.

An AWS error is ``retryable`` when the service was busy or failed (throttling codes, HTTP
429 or 5xx, connection errors and timeouts; ``Retry-After`` when the answer carried one)
and ``permanent`` otherwise, with the service's own message and code as the reason.
Clients come from ``aws.provider_client``: one attempt per call, so a message is never
sent again behind the sender's back.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

from botocore.exceptions import (
    BotoCoreError, ClientError, ConnectionError as BotoConnectionError, HTTPClientError, NoCredentialsError,
    ParamValidationError, ReadTimeoutError,
)

from chalicelib import aws
from chalicelib.providers.base import Outgoing, Provider, Result

CONCURRENCY = 8


def send_each(batch: Sequence[Outgoing], send_one: Callable[[Outgoing], Result]) -> list[Result]:
    """One call per message (these APIs take one recipient per call), a few at a time;
    the results in the batch's order."""
    if len(batch) <= 1:
        return [send_one(m) for m in batch]
    first = send_one(batch[0])  # builds the client before threads share it
    with ThreadPoolExecutor(max_workers=min(CONCURRENCY, len(batch) - 1)) as pool:
        return [first, *pool.map(send_one, batch[1:])]


def retry_after(error: ClientError) -> float | None:
    """Seconds from the answer's Retry-After header, when it has one in seconds."""
    headers = error.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}) or {}
    value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def classify(error: Exception, service: str, *, retryable_codes: Collection[str],
             describe: Callable[[str, str, dict[str, Any]], str | None] | None = None) -> Result:
    """The result for an error from one call to ``service`` (a name such as "SES").

    ``describe(code, message, error_fields)`` may give a clearer reason for a code (None:
    the service's message and code)."""
    if isinstance(error, ClientError):
        fields = error.response.get("Error", {}) or {}
        code = str(fields.get("Code") or "unknown")
        message = str(fields.get("Message") or "").strip().rstrip(".")
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if code in retryable_codes or status == 429 or status >= 500:
            return Result("retryable", reason=f"{service} is busy or failing: {message or code} ({code})",
                          retry_after=retry_after(error))
        reason = describe(code, message, dict(fields)) if describe else None
        return Result("permanent", reason=reason or f"{service} rejected the message: {message or 'no reason given'} ({code})")
    if isinstance(error, ReadTimeoutError):
        return Result("retryable", reason=f"{service} did not answer in time")
    if isinstance(error, (BotoConnectionError, HTTPClientError)):
        return Result("retryable", reason=f"could not reach {service}")
    if isinstance(error, NoCredentialsError):
        return Result("retryable", reason=f"no AWS credentials to call {service} with")
    if isinstance(error, ParamValidationError):
        return Result("permanent", reason=f"the message does not fit {service}'s request: "
                                          f"{error.kwargs.get('report', '').strip()}")
    if isinstance(error, BotoCoreError):
        return Result("retryable", reason=f"could not call {service}")
    raise error


class AwsProvider(Provider):
    """An adapter calling one AWS API once per message: subclasses name the client's
    service and operation, build the request (a reason string: permanent) and map codes."""

    client_service: ClassVar[str]
    operation: ClassVar[str]
    service_name: ClassVar[str]
    retryable_codes: ClassVar[Collection[str]]

    @staticmethod
    def request(message: Outgoing, settings: dict[str, Any]) -> dict[str, Any] | str:
        raise NotImplementedError

    def describe(self, code: str, message: str, fields: dict[str, Any]) -> str | None:
        """A clearer reason for an error code (None: the service's message and code)."""
        return None

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        return send_each(batch, self._send_one)

    def _send_one(self, message: Outgoing) -> Result:
        params = self.request(message, self.config.settings)
        if isinstance(params, str):
            return Result("permanent", reason=params)
        client = aws.provider_client(self.client_service, self.config.settings.get("region"), self.config.endpoint)
        try:
            answer = getattr(client, self.operation)(**params)
        except Exception as error:  # noqa: BLE001 - classify re-raises what it does not know
            return classify(error, self.service_name, retryable_codes=self.retryable_codes, describe=self.describe)
        return Result("accepted", provider_message_id=str(answer["MessageId"]))
