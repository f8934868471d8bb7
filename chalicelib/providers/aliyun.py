"""Alibaba Cloud RPC-style API calls, shared by the SMS, card SMS and DirectMail adapters.

Signature method V2 for RPC APIs ("Request syntax and signature method V2 for RPC APIs",
"Signature mechanism"): every request carries the common parameters (Format, Version,
AccessKeyId, SignatureMethod=HMAC-SHA1, Timestamp in UTC ISO 8601, SignatureVersion=1.0,
SignatureNonce) and ``Signature = Base64(HMAC-SHA1(AccessKeySecret + "&", StringToSign))``
where ``StringToSign = HTTPMethod + "&" + percentEncode("/") + "&" +
percentEncode(CanonicalizedQueryString)``, the canonical query being every parameter but
Signature, sorted by name, each ``percentEncode(name) + "=" + percentEncode(value)``
joined by "&". percentEncode is RFC 3986 over UTF-8: A-Z a-z 0-9 - _ . ~ stay, a space
is %20 (not +), * is %2A and ~ is not encoded.

We POST the parameters form-encoded (the APIs accept GET or POST; POST keeps the hundred
numbers of a batch out of the URL), signed with HTTPMethod "POST".
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

import httpx

from chalicelib import clock
from chalicelib.providers.base import Result

# One client per Lambda container: connections are reused across invocations. Alibaba's
# SMS docs recommend a timeout of at least 3 s for SendCardSms; 10 s read covers it.
CLIENT = httpx.Client(timeout=httpx.Timeout(10.0, connect=3.0))

# Codes every Alibaba Cloud RPC API may answer that mean "try again later".
RETRYABLE_CODES = frozenset({
    "Throttling", "Throttling.User", "Throttling.Api", "Throttling.Concurrent", "ServiceUnavailable",
    "InternalError", "isp.SYSTEM_ERROR", "isp.GATEWAY_ERROR", "SYSTEM_ERROR",
})


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8, as the signature wants it (space %20, * %2A, ~ kept)."""
    return quote(value, safe="-_.~")


def canonical_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def signature(method: str, params: Mapping[str, str], access_key_secret: str) -> str:
    digest = hmac.new(f"{access_key_secret}&".encode(), string_to_sign(method, params).encode(), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode()


def timestamp(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def signed_params(action: str, version: str, credentials: Mapping[str, Any], params: Mapping[str, str], *,
                  now: datetime, nonce: str, method: str = "POST",
                  region: str | None = None) -> dict[str, str]:
    """The request's parameters: the action's, the common ones and the Signature."""
    common = {
        "Action": action, "Version": version, "Format": "JSON",
        "AccessKeyId": str(credentials["access_key_id"]), "SignatureMethod": "HMAC-SHA1",
        "SignatureVersion": "1.0", "SignatureNonce": nonce, "Timestamp": timestamp(now),
    }
    if region:
        common["RegionId"] = region
    merged = {**params, **common}
    merged["Signature"] = signature(method, merged, str(credentials["access_key_secret"]))
    return merged


@dataclass(frozen=True)
class Answer:
    """An RPC answer: HTTP status and JSON body ({} when the body is not JSON)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None

    @property
    def code(self) -> str:
        return str(self.body.get("Code") or "")

    @property
    def message(self) -> str:
        return str(self.body.get("Message") or "")


class Unreachable(Exception):
    """The call did not get an answer (timeout, connection refused): retry later."""


def call(base_url: str, action: str, version: str, credentials: Mapping[str, Any], params: Mapping[str, str],
         *, region: str | None = None, now: datetime | None = None) -> Answer:
    """POST a signed RPC call to ``base_url`` and return its answer."""
    body = signed_params(action, version, credentials, params, now=now or clock.now(),
                         nonce=uuid.uuid4().hex, region=region)
    try:
        response = CLIENT.post(base_url.rstrip("/") + "/", data=body)
    except httpx.HTTPError as exc:
        raise Unreachable(f"{action} did not answer ({type(exc).__name__})") from None
    try:
        parsed = response.json()
    except ValueError:
        parsed = {}
    return Answer(response.status_code, parsed if isinstance(parsed, dict) else {},
                  retry_after_seconds(response.headers.get("retry-after")))


def retry_after_seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def failure(answer: Answer, retryable: frozenset[str] = RETRYABLE_CODES, *, what: str) -> Result:
    """The Result for an answer that is not a success: retryable for throttling, 5xx and
    the codes given; permanent with the provider's code and message otherwise."""
    reason = f"{what}: {answer.code or 'HTTP ' + str(answer.status)}"
    if answer.message:
        reason += f" ({answer.message})"
    if answer.status >= 500 or answer.status == 429 or answer.code in retryable \
            or answer.code.startswith("Throttling"):
        return Result("retryable", reason=reason, retry_after=answer.retry_after)
    return Result("permanent", reason=reason)


def phone_digits(number: str) -> str:
    """A number as Alibaba's SMS APIs take it: digits with the country code, no '+' or '00'
    (mainland numbers may be sent as 86XXXXXXXXXXX, which the API accepts)."""
    digits = number.strip().lstrip("+")
    if digits.startswith("00"):
        digits = digits[2:]
    return "".join(ch for ch in digits if ch.isdigit())


def report_key(biz_id: str, number: str) -> str:
    """Our provider message id for one recipient of a send: the BizId (shared by every
    number of a SendBatchSms call) and the number, with a mainland number reduced to its 11
    digits so that the report's ``phone_number`` (with or without 86) gives the same key."""
    return f"{biz_id}:{comparable(number)}"


def comparable(number: str) -> str:
    """A number in the form Alibaba's answers and reports compare equal: digits, a mainland
    number without its 86 (they list 1380000xxxx whether or not we sent 86)."""
    digits = phone_digits(number)
    return digits[2:] if len(digits) == 13 and digits.startswith("861") else digits
