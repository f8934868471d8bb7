"""Alibaba Cloud SMS (dysmsapi.aliyuncs.com, API version 2017-05-25).

Followed: "SendSms", "SendBatchSms", "QuerySmsTemplate", "QuerySmsSign", "SmsReport"
(HTTP batch push of delivery reports) and the SMS API error codes, in Alibaba Cloud's
Short Message Service developer reference; the RPC signature is ``providers.aliyun``.

Alibaba only sends templates it has approved: a message's content names the template by
``external_id`` (the TemplateCode, e.g. SMS_123456789) and carries its variables in
``params`` (a map, sent as TemplateParam JSON); ``sign_name`` in the content overrides
the provider's ``sign_name`` setting. A batch is grouped by template: a group of one is a
SendSms (OutId = our idempotency key), a larger group one SendBatchSms (at most 100
numbers per call, per the SendBatchSms reference). Alibaba does not deduplicate repeated
calls, so ``supports_idempotency_key`` is False.

Every number of one SendBatchSms call gets the same BizId, so our provider message id is
``<BizId>:<number>`` (``aliyun.report_key``); the delivery report carries ``biz_id`` and
``phone_number``, which give the same key back.

Delivery reports (SmsReport, HTTP batch push, a JSON array) are not signed by Alibaba.
We protect the callback URL with a per-provider secret: configure the receiving address in
the SMS console as ``<api>/v1/receipts/<provider>?ws=<workspace>&token=<callback_token>``
where ``callback_token`` is a credential of the provider; a request without the right
token is refused (401, compared in constant time).
"""
from __future__ import annotations

import hmac
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from chalicelib.providers import aliyun
from chalicelib.providers.base import (
    Callback, CallbackMalformed, CallbackRejected, CallbackResult, Outgoing, Provider, ProviderConfig, Receipt, Result,
    register, register_callback,
)

ENDPOINT = "https://dysmsapi.aliyuncs.com"
VERSION = "2017-05-25"
MAX_BATCH = 100  # SendBatchSms: "up to 100 mobile numbers" per request
# Published defaults (rate limit, cost): providers_config.KINDS, with their sources.

# Permanent with the provider's reason (SMS API error codes); anything not listed as
# retryable is permanent too, these are the ones a campaign author will meet.
PERMANENT_CODES = frozenset({
    "isv.MOBILE_NUMBER_ILLEGAL", "isv.SMS_TEMPLATE_ILLEGAL", "isv.SMS_SIGNATURE_ILLEGAL",
    "isv.TEMPLATE_MISSING_PARAMETERS", "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE",
    "isv.PRODUCT_UN_SUBSCRIPT", "isv.PRODUCT_UNSUBSCRIBE", "isv.ACCOUNT_NOT_EXISTS", "isv.ACCOUNT_ABNORMAL",
    "isv.INVALID_PARAMETERS", "isv.INVALID_JSON_PARAM", "isv.BLACK_KEY_CONTROL_LIMIT", "isv.PARAM_LENGTH_LIMIT",
    "isv.PARAM_NOT_SUPPORT_URL", "isv.MOBILE_COUNT_OVER_LIMIT", "isv.TEMPLATE_PARAMS_ILLEGAL",
    "isv.DENY_IP_RANGE", "isp.RAM_PERMISSION_DENY", "SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound",
})
# Flow control: per-number minute/hour/day limits and the account's QPS.
RETRYABLE_CODES = aliyun.RETRYABLE_CODES | {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL"}
# isv.BUSINESS_LIMIT_CONTROL is Alibaba's per-number frequency control (by default 1 a
# minute, 5 an hour, 10 a day to one number); retrying later is what its docs advise.
BUSINESS_LIMIT_RETRY_AFTER = 60.0

CHINA = timezone(timedelta(hours=8))  # report times are Beijing time, without a zone


def base_url(provider: Provider) -> str:
    return provider.config.endpoint or ENDPOINT


@register
class AliyunSms(Provider):
    kind = "aliyun_sms"
    channels = frozenset({"sms"})
    max_batch = MAX_BATCH

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        results: list[Result | None] = [None] * len(batch)
        groups: dict[str, list[int]] = defaultdict(list)
        for i, message in enumerate(batch):
            problem = _unsendable(message, self.config.settings)
            if problem:
                results[i] = Result("permanent", reason=problem)
            else:
                groups[str(message.content["external_id"])].append(i)
        credentials = self.config.credentials() if groups else {}
        for template_code, indexes in groups.items():
            messages = [batch[i] for i in indexes]
            outcome = self._send_group(credentials, template_code, messages)
            for i, result in zip(indexes, outcome):
                results[i] = result
        return [r for r in results if r is not None]

    def _send_group(self, credentials: Mapping[str, Any], template_code: str,
                    messages: list[Outgoing]) -> list[Result]:
        if len(messages) == 1:
            action, params = "SendSms", send_sms_params(messages[0], template_code, self.config.settings)
        else:
            action, params = "SendBatchSms", send_batch_params(messages, template_code, self.config.settings)
        return rpc_results(self, action, params, credentials, [m.to or "" for m in messages])


def rpc_results(provider: Provider, action: str, params: dict[str, str], credentials: Mapping[str, Any],
                numbers: list[str]) -> list[Result]:
    """One result per number from one SendSms/SendBatchSms call (they stand or fall together)."""
    try:
        answer = aliyun.call(base_url(provider), action, VERSION, credentials, params,
                             region=provider.config.settings.get("region"))
    except aliyun.Unreachable as exc:
        return [Result("retryable", reason=str(exc))] * len(numbers)
    return results_of(answer, numbers, action)


def results_of(answer: aliyun.Answer, numbers: list[str], action: str) -> list[Result]:
    if answer.status == 200 and answer.code == "OK" and answer.body.get("BizId"):
        biz_id = str(answer.body["BizId"])
        return [Result("accepted", provider_message_id=aliyun.report_key(biz_id, n)) for n in numbers]
    result = aliyun.failure(answer, RETRYABLE_CODES, what=f"Alibaba Cloud {action}")
    if answer.code == "isv.BUSINESS_LIMIT_CONTROL" and result.retry_after is None:
        result = Result("retryable", reason=result.reason, retry_after=BUSINESS_LIMIT_RETRY_AFTER)
    return [result] * len(numbers)


def _unsendable(message: Outgoing, settings: Mapping[str, Any]) -> str | None:
    if not message.to:
        return "no phone number for this recipient"
    if not message.content.get("external_id"):
        return ("Alibaba Cloud SMS sends only templates it approved: the template needs external_id "
                "(its TemplateCode, such as SMS_123456789)")
    if not (message.content.get("sign_name") or message.content.get("signature") or settings.get("sign_name")):
        return "Alibaba Cloud SMS needs a signature name (the provider's sign_name setting)"
    params = message.content.get("params")
    if params is not None and not isinstance(params, Mapping):
        return "the template's params must be a map of variable names to values"
    return None


def _sign_name(message: Outgoing, settings: Mapping[str, Any]) -> str:
    return str(message.content.get("sign_name") or message.content.get("signature") or settings["sign_name"])


def _params(message: Outgoing) -> dict[str, str]:
    return {str(k): str(v) for k, v in (message.content.get("params") or {}).items()}


def send_sms_params(message: Outgoing, template_code: str, settings: Mapping[str, Any]) -> dict[str, str]:
    params = {"PhoneNumbers": aliyun.phone_digits(message.to or ""), "SignName": _sign_name(message, settings),
              "TemplateCode": template_code, "OutId": message.idempotency_key}
    template_params = _params(message)
    if template_params:
        params["TemplateParam"] = _compact(template_params)
    return params


def send_batch_params(messages: Sequence[Outgoing], template_code: str, settings: Mapping[str, Any]) -> dict[str, str]:
    params = {
        "PhoneNumberJson": _compact([aliyun.phone_digits(m.to or "") for m in messages]),
        "SignNameJson": _compact([_sign_name(m, settings) for m in messages]),
        "TemplateCode": template_code,
    }
    if any(_params(m) for m in messages):
        params["TemplateParamJson"] = _compact([_params(m) for m in messages])
    return params


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# ----------------------------------------------------------------------- delivery reports

def verify_token(provider: Provider, callback: Callback) -> None:
    """The callback URL's ``token`` must be the provider's ``callback_token`` credential."""
    expected = str(provider.config.credentials().get("callback_token") or "")
    given = callback.query.get("token", "")
    if not expected:
        raise CallbackRejected("this provider has no callback_token credential; receipts are refused")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise CallbackRejected("the callback token does not match")


def report_time(value: Any) -> datetime:
    """``yyyy-MM-dd HH:mm:ss`` in Beijing time."""
    if not isinstance(value, str):
        raise CallbackMalformed("report_time is missing")
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=CHINA).astimezone(timezone.utc)
    except ValueError:
        raise CallbackMalformed("report_time is not a time like 2017-01-01 00:00:00") from None


def parse_reports(body: bytes) -> list[Receipt]:
    """SmsReport: a JSON array of reports -> delivered / failed receipts."""
    try:
        reports = json.loads(body)
    except ValueError:
        raise CallbackMalformed("the body is not JSON") from None
    if not isinstance(reports, list):
        raise CallbackMalformed("the body is not a JSON array of reports")
    receipts = []
    for report in reports:
        if not isinstance(report, dict) or not report.get("biz_id") or not report.get("phone_number") \
                or not isinstance(report.get("success"), bool):
            raise CallbackMalformed("each report needs biz_id, phone_number and success (true or false)")
        ok = report["success"]
        reason = None if ok else f"{report.get('err_code') or 'failed'}: {report.get('err_msg') or ''}".rstrip(": ")
        receipts.append(Receipt(
            provider_message_id=aliyun.report_key(str(report["biz_id"]), str(report["phone_number"])),
            status="delivered" if ok else "failed", at=report_time(report.get("report_time")),
            reason=reason, address=str(report["phone_number"]),
        ))
    return receipts


# Alibaba retries a push unless the answer is HTTP 200 with a numeric "code".
ACK = (200, json.dumps({"code": 0, "msg": "ok"}), "application/json")


@register_callback("aliyun_sms")
def handle_reports(provider: Provider, callback: Callback) -> CallbackResult:
    verify_token(provider, callback)
    return CallbackResult(receipts=parse_reports(callback.body), reply=ACK)


# ------------------------------------------------------------------ template and signature review

ReviewStatus = Literal["approved", "rejected", "pending"]


@dataclass(frozen=True)
class Review:
    status: ReviewStatus
    reason: str | None = None


# QuerySmsTemplate TemplateStatus / QuerySmsSign SignStatus: 0 under review, 1 approved,
# 2 rejected (10: the application was withdrawn, for templates).
_STATUS: dict[int, ReviewStatus] = {0: "pending", 1: "approved", 2: "rejected", 10: "rejected"}


class ReviewUnavailable(Exception):
    """The provider could not be asked (unreachable, throttled, credentials refused)."""


def sync_review(provider: Provider, template: Any) -> Review:
    """Alibaba's verdict on the template's TemplateCode and the signature it is sent with:
    rejected if either is rejected, pending if either is under review, else approved."""
    spec = template.spec
    template_code = getattr(spec, "external_id", None)
    if not template_code:
        return Review("rejected", "the template has no external_id (its Alibaba Cloud TemplateCode)")
    sign_name = (getattr(spec, "sign_name", None) or getattr(spec, "signature", None)
                 or provider.config.settings.get("sign_name"))
    credentials = provider.config.credentials()
    verdicts = [_query(provider, credentials, "QuerySmsTemplate", {"TemplateCode": str(template_code)},
                       "TemplateStatus", f"template {template_code}")]
    if sign_name:
        verdicts.append(_query(provider, credentials, "QuerySmsSign", {"SignName": str(sign_name)},
                               "SignStatus", f"signature {sign_name}"))
    return combine(verdicts)


def combine(verdicts: Sequence[Review]) -> Review:
    for status in ("rejected", "pending"):
        found = [v for v in verdicts if v.status == status]
        if found:
            return Review(found[0].status, "; ".join(v.reason for v in found if v.reason) or None)
    return Review("approved")


def _query(provider: Provider, credentials: Mapping[str, Any], action: str, params: dict[str, str],
           field: str, what: str) -> Review:
    try:
        answer = aliyun.call(base_url(provider), action, VERSION, credentials, params)
    except aliyun.Unreachable as exc:
        raise ReviewUnavailable(str(exc)) from None
    if answer.status != 200 or answer.code != "OK":
        raise ReviewUnavailable(aliyun.failure(answer, what=f"Alibaba Cloud {action}").reason)
    try:
        status = _STATUS[int(answer.body.get(field))]  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        raise ReviewUnavailable(f"Alibaba Cloud {action} answered an unknown {field}") from None
    reason = answer.body.get("Reason")
    return Review(status, f"{what}: {reason}" if status != "approved" and reason else
                  (f"{what} is under review" if status == "pending" else None))


def apply_provider_review(template: Any, review: Review, now: datetime) -> Any:
    """The template after the provider's verdict (``templates.approve``/``reject``), or
    unchanged while the provider is still reviewing or when it is not pending review.
    Wiring point for the templates flow (``template_service``)."""
    from chalicelib.sending import templates

    if review.status == "pending" or template.status is not templates.Status.PENDING_REVIEW:
        return template
    if review.status == "approved":
        return templates.approve(template, now)
    return templates.reject(template, (review.reason or "rejected by the provider")[:templates.MAX_REASON], now)
