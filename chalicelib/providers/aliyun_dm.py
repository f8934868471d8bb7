"""Alibaba Cloud DirectMail (dm.aliyuncs.com, API version 2015-11-23).

Followed: "SingleSendMail", "BatchSendMail", "GetTrackList" and "Enable data tracking"
in the Direct Mail API reference and user guide; the RPC signature is ``providers.aliyun``.

Each message is one SingleSendMail: AccountName (the verified sender address, setting
``account_name``), AddressType=1 (a sender address, not a random one), ReplyToAddress
(setting ``reply_to``: use the reply-to address configured in the console, default
false), ToAddress, Subject, HtmlBody / TextBody, FromAlias (setting ``from_alias``),
TagName (setting ``tag_name``, or the content's ``tag``) and ClickTrace (setting
``click_trace``: "1" on, "0" off). The answer's EnvId is the provider message id.

BatchSendMail sends a template stored in DirectMail to a receiver list stored in
DirectMail, so it cannot carry our per-recipient rendered content: ``batch_send_mail``
is there for whole-list sends; ``send`` uses SingleSendMail per message.

Tracking: DirectMail tracks opens (a pixel) and clicks (redirected links) when the mail
is HTML, carries an existing tag and ClickTrace is on; the data is shown in the console
and read with GetTrackList, aggregated per tag and day, not per message. DirectMail does
not push per-message open or click events to an HTTP URL, so this adapter produces no
opened/clicked receipts (``track_stats`` reads the aggregates).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from chalicelib.providers import aliyun
from chalicelib.providers.base import Outgoing, Provider, Result, register

ENDPOINT = "https://dm.aliyuncs.com"
VERSION = "2015-11-23"
CONCURRENCY = 8

# Permanent (the request itself is wrong); throttling and 5xx are retryable (aliyun).
PERMANENT_CODES = frozenset({
    "InvalidMailAddress.NotFound", "InvalidToAddress", "InvalidToAddress.Spam", "InvalidSendMail.Spam",
    "InvalidBody", "InvalidSubject", "InvalidMailAddressDomain", "InvalidAccountName.Malformed",
    "InvalidTemplate.NotFound", "InvalidReceiver.NotFound", "InvalidTagName.Malformed",
    "InvalidAccountStatus", "OutOfQuota", "SignatureDoesNotMatch", "InvalidAccessKeyId.NotFound",
})
RETRYABLE_CODES = aliyun.RETRYABLE_CODES | {"InvalidTimeStamp.Expired"}


def base_url(provider: Provider) -> str:
    return provider.config.endpoint or ENDPOINT


def _flag(value: Any, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, bool):
        return "1" if value else "0"
    return "1" if str(value).lower() in ("1", "true", "on", "yes") else "0"


def single_send_params(message: Outgoing, settings: Mapping[str, Any]) -> dict[str, str]:
    content = message.content
    params = {
        "AccountName": str(settings["account_name"]),
        "AddressType": "1",
        "ReplyToAddress": "true" if _flag(settings.get("reply_to"), "0") == "1" else "false",
        "ToAddress": message.to or "",
        "Subject": str(content.get("subject") or ""),
    }
    if content.get("html"):
        params["HtmlBody"] = str(content["html"])
    if content.get("text"):
        params["TextBody"] = str(content["text"])
    if settings.get("from_alias"):
        params["FromAlias"] = str(settings["from_alias"])
    tag = content.get("tag") or settings.get("tag_name")
    if tag:
        params["TagName"] = str(tag)
    params["ClickTrace"] = _flag(settings.get("click_trace"), "0")
    return params


@register
class AliyunDirectMail(Provider):
    kind = "aliyun_dm"
    channels = frozenset({"email"})
    max_batch = 50  # our chunk; each message is one SingleSendMail call

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        credentials = self.config.credentials() if batch else {}
        with ThreadPoolExecutor(max_workers=CONCURRENCY) as pool:
            return list(pool.map(lambda m: self._send_one(credentials, m), batch))

    def _send_one(self, credentials: Mapping[str, Any], message: Outgoing) -> Result:
        if not message.to:
            return Result("permanent", reason="no email address for this recipient")
        if not message.content.get("subject") or not (message.content.get("html") or message.content.get("text")):
            return Result("permanent", reason="an email needs a subject and an html or text body")
        try:
            answer = aliyun.call(base_url(self), "SingleSendMail", VERSION, credentials,
                                 single_send_params(message, self.config.settings),
                                 region=self.config.settings.get("region"))
        except aliyun.Unreachable as exc:
            return Result("retryable", reason=str(exc))
        if answer.status == 200 and answer.body.get("EnvId") and not answer.code:
            return Result("accepted", provider_message_id=str(answer.body["EnvId"]))
        return aliyun.failure(answer, RETRYABLE_CODES, what="Alibaba Cloud DirectMail SingleSendMail")


def batch_send_mail(provider: Provider, template_name: str, receivers_name: str,
                    tag_name: str | None = None) -> Result:
    """BatchSendMail: a DirectMail-stored template to a DirectMail-stored receiver list."""
    settings = provider.config.settings
    params = {"AccountName": str(settings["account_name"]), "AddressType": "1",
              "TemplateName": template_name, "ReceiversName": receivers_name,
              "ClickTrace": _flag(settings.get("click_trace"), "0")}
    if tag_name or settings.get("tag_name"):
        params["TagName"] = str(tag_name or settings["tag_name"])
    try:
        answer = aliyun.call(base_url(provider), "BatchSendMail", VERSION, provider.config.credentials(), params,
                             region=settings.get("region"))
    except aliyun.Unreachable as exc:
        return Result("retryable", reason=str(exc))
    if answer.status == 200 and answer.body.get("EnvId") and not answer.code:
        return Result("accepted", provider_message_id=str(answer.body["EnvId"]))
    return aliyun.failure(answer, RETRYABLE_CODES, what="Alibaba Cloud DirectMail BatchSendMail")


def track_stats(provider: Provider, start: date, end: date, tag_name: str | None = None) -> dict[str, Any]:
    """GetTrackList: opens and clicks aggregated per day (for the tag), as DirectMail reports them."""
    params = {"StartTime": start.isoformat(), "EndTime": end.isoformat(), "PageNumber": "1", "PageSize": "100",
              "AccountName": str(provider.config.settings["account_name"])}
    if tag_name:
        params["TagName"] = tag_name
    answer = aliyun.call(base_url(provider), "GetTrackList", VERSION, provider.config.credentials(), params)
    if answer.status != 200 or answer.code:
        raise LookupError(aliyun.failure(answer, what="Alibaba Cloud DirectMail GetTrackList").reason)
    return answer.body
