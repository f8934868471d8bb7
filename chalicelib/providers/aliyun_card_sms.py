"""Alibaba Cloud card SMS (digital/rich SMS: images, video, audio) via dysmsapi 2017-05-25.

Followed: "SendCardSms - 发送卡片短信", "SendBatchCardSms", "CreateCardSmsTemplate",
"GetMediaResourceId" and the card SMS error codes (Short Message Service developer
reference). Card SMS is by invitation on Alibaba's side.

The media live in the card template: a card template is created at Alibaba (with media
resource ids from GetMediaResourceId) and approved by the handset vendors; a send names
it by its CardTemplateCode and fills its dynamic parameters. So a message's content is:

* ``external_id``: the CardTemplateCode (CARD_SMS_...);
* ``params``: the dynamic parameters (CardObjects[].dyncParams);
* ``custom_url`` (optional): where the card links when it cannot render;
* ``fallback_external_id`` / ``digital_external_id``: the plain-SMS / digital-SMS
  template codes used for handsets that cannot show a card (SmsTemplateCode /
  DigitalTemplateCode), per the provider's ``fallback_type`` setting: ``SMS`` (default),
  ``DIGITALSMS`` or ``NONE``;
* ``media`` (optional): the material ids the card template was built from; they are not
  sent (the template holds them). ``providers.aliyun_card_template`` creates the card
  template at Alibaba from them (``POST /v1/templates/{id}/card-template``).

With the ``check_support`` setting, each call's numbers are first asked about with
QueryMobilesCardSupport ("QueryMobilesCardSupport - 查询手机号是否支持卡片短信(新接口)"):
those that cannot show the card get the plain SMS fallback template at once (SendSms /
SendBatchSms) or, with ``fallback_type`` NONE, nothing (permanent); with DIGITALSMS, and
when the query fails, the card call decides (Alibaba falls back by itself).

One SendCardSms call carries the numbers that share a card template, signature and
fallback (CardObjects is a list, one object per number). The answer's BizCardId is the
card's id; numbers listed in NotMediaMobiles got the fallback instead, whose id is BizSmsId
(or BizDigitalId), which is what their SmsReport delivery reports carry: our provider
message id is ``<that id>:<number>`` as for plain SMS, and delivery reports are parsed as
``aliyun_sms``'s (same token-protected URL).
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from chalicelib.providers import aliyun, aliyun_sms
from chalicelib.providers.base import (
    Callback, CallbackResult, Outgoing, Provider, ProviderConfig, Result, register, register_callback,
)

FALLBACK_TYPES = ("SMS", "DIGITALSMS", "NONE")
MAX_BATCH = 100  # SendBatchCardSms: at most 100 numbers per request; we use the same for CardObjects
# Published defaults (rate limit, cost): providers_config.KINDS, with their sources.
COMPACT: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}

# Resolves material ids to Alibaba media resource ids (GetMediaResourceId) when a card
# template is created; set by the materials slice. Sending never needs it.
MediaResolver = Callable[[str, Sequence[str]], list[str]]
media_resolver: MediaResolver | None = None


def media_resources(workspace_id: str, material_ids: Sequence[str]) -> list[str]:
    """The media resource ids of a card template's materials (for CreateCardSmsTemplate)."""
    if media_resolver is None:
        raise LookupError("no material library is connected to resolve card SMS media")
    return media_resolver(workspace_id, material_ids)


def fallback_type(settings: Mapping[str, Any]) -> str:
    return str(settings.get("fallback_type") or "SMS")


@register
class AliyunCardSms(Provider):
    kind = "aliyun_card_sms"
    channels = frozenset({"sms"})
    max_batch = MAX_BATCH

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        settings = self.config.settings
        results: list[Result | None] = [None] * len(batch)
        groups: dict[tuple[str, ...], list[int]] = defaultdict(list)
        for i, message in enumerate(batch):
            problem = unsendable(message, settings)
            if problem:
                results[i] = Result("permanent", reason=problem)
            else:
                groups[group_key(message, settings)].append(i)
        credentials = self.config.credentials() if groups else {}
        for indexes in groups.values():
            messages = [batch[i] for i in indexes]
            for i, result in zip(indexes, self._send_group(credentials, messages)):
                results[i] = result
        return [r for r in results if r is not None]

    def _send_group(self, credentials: Mapping[str, Any], messages: list[Outgoing]) -> list[Result]:
        settings = self.config.settings
        if not settings.get("check_support") or fallback_type(settings) == "DIGITALSMS":
            return self._send_cards(credentials, messages)
        no_card = cannot_show_cards(self, credentials, str(messages[0].content["external_id"]), messages)
        results: list[Result | None] = [None] * len(messages)
        cards = [i for i, m in enumerate(messages) if aliyun.comparable(m.to or "") not in no_card]
        plain = [i for i in range(len(messages)) if i not in cards]
        if cards:
            for i, result in zip(cards, self._send_cards(credentials, [messages[i] for i in cards])):
                results[i] = result
        if plain:
            for i, result in zip(plain, self._send_fallback(credentials, [messages[i] for i in plain])):
                results[i] = result
        return [r for r in results if r is not None]

    def _send_fallback(self, credentials: Mapping[str, Any], messages: list[Outgoing]) -> list[Result]:
        """Numbers QueryMobilesCardSupport says cannot show the card: the plain SMS fallback
        template straight away (SendSms / SendBatchSms), or, without a fallback, nothing."""
        settings = self.config.settings
        if fallback_type(settings) == "NONE":
            return [Result("permanent", reason="the handset cannot show a card SMS (QueryMobilesCardSupport) and no "
                                               "fallback is configured")] * len(messages)
        code = str(messages[0].content["fallback_external_id"])
        if len(messages) == 1:
            action, params = "SendSms", aliyun_sms.send_sms_params(messages[0], code, settings)
        else:
            action, params = "SendBatchSms", aliyun_sms.send_batch_params(messages, code, settings)
        return aliyun_sms.rpc_results(self, action, params, credentials, [m.to or "" for m in messages])

    def _send_cards(self, credentials: Mapping[str, Any], messages: list[Outgoing]) -> list[Result]:
        params = send_card_params(messages, self.config.settings)
        numbers = [m.to or "" for m in messages]
        try:
            answer = aliyun.call(aliyun_sms.base_url(self), "SendCardSms", aliyun_sms.VERSION, credentials, params,
                                 region=self.config.settings.get("region"))
        except aliyun.Unreachable as exc:
            return [Result("retryable", reason=str(exc))] * len(messages)
        return card_results(answer, numbers, fallback_type(self.config.settings))


def cannot_show_cards(provider: Provider, credentials: Mapping[str, Any], template_code: str,
                      messages: Sequence[Outgoing]) -> set[str]:
    """The numbers (``aliyun.comparable``) QueryMobilesCardSupport says cannot show the
    card template. When the query fails, none: the card call then decides, Alibaba falling
    back by itself for the handsets that cannot show it."""
    mobiles = [{"mobile": aliyun.comparable(m.to or "")} for m in messages]
    params = {"TemplateCode": template_code, "Mobiles": json.dumps(mobiles, **COMPACT), "EncryptType": "NORMAL"}
    try:
        answer = aliyun.call(aliyun_sms.base_url(provider), "QueryMobilesCardSupport", aliyun_sms.VERSION,
                             credentials, params, region=provider.config.settings.get("region"))
    except aliyun.Unreachable:
        return set()
    data = answer.body.get("Data") if isinstance(answer.body.get("Data"), dict) else {}
    if answer.status != 200 or answer.code != "OK" or not data:
        return set()
    return {aliyun.comparable(str(item.get("Mobile") or "")) for item in data.get("QueryResult") or []
            if isinstance(item, dict) and item.get("Support") is False}


def unsendable(message: Outgoing, settings: Mapping[str, Any]) -> str | None:
    content = message.content
    if not message.to:
        return "no phone number for this recipient"
    if not content.get("external_id"):
        return "a card SMS needs external_id: the approved card template's code (CARD_SMS_...)"
    if not (content.get("sign_name") or content.get("signature") or settings.get("sign_name")):
        return "Alibaba Cloud card SMS needs a signature name (the provider's sign_name setting)"
    kind = fallback_type(settings)
    if kind == "SMS" and not content.get("fallback_external_id"):
        return ("the provider falls back to a plain SMS: the template needs fallback_external_id "
                "(the approved SMS template's code), or set fallback_type NONE")
    if kind == "DIGITALSMS" and not content.get("digital_external_id"):
        return ("the provider falls back to a digital SMS: the template needs digital_external_id, "
                "or set fallback_type NONE")
    if content.get("params") is not None and not isinstance(content.get("params"), Mapping):
        return "the template's params must be a map of variable names to values"
    return None


def _params(message: Outgoing) -> dict[str, str]:
    return {str(k): str(v) for k, v in (message.content.get("params") or {}).items()}


def group_key(message: Outgoing, settings: Mapping[str, Any]) -> tuple[str, ...]:
    """Messages that can share one SendCardSms call (one template, signature and fallback;
    the fallback's parameters are per call, so they are part of the key when used)."""
    content = message.content
    kind = fallback_type(settings)
    fallback_params = json.dumps(_params(message), sort_keys=True) if kind != "NONE" else ""
    return (str(content["external_id"]), str(content.get("sign_name") or content.get("signature") or settings["sign_name"]), kind,
            str(content.get("fallback_external_id") or ""), str(content.get("digital_external_id") or ""),
            fallback_params)


def send_card_params(messages: Sequence[Outgoing], settings: Mapping[str, Any]) -> dict[str, str]:
    first = messages[0]
    content = first.content
    objects = []
    for m in messages:
        item: dict[str, str] = {"mobile": aliyun.phone_digits(m.to or "")}
        if _params(m):
            item["dyncParams"] = json.dumps(_params(m), **COMPACT)
        if m.content.get("custom_url"):
            item["customUrl"] = str(m.content["custom_url"])
        objects.append(item)
    kind = fallback_type(settings)
    params = {
        "CardTemplateCode": str(content["external_id"]),
        "SignName": str(content.get("sign_name") or content.get("signature") or settings["sign_name"]),
        "CardObjects": json.dumps(objects, **COMPACT),
        "FallbackType": kind,
    }
    if len(messages) == 1:
        params["OutId"] = first.idempotency_key
    if kind == "SMS":
        params["SmsTemplateCode"] = str(content["fallback_external_id"])
        if _params(first):
            params["SmsTemplateParam"] = json.dumps(_params(first), **COMPACT)
    elif kind == "DIGITALSMS":
        params["DigitalTemplateCode"] = str(content["digital_external_id"])
        if _params(first):
            params["DigitalTemplateParam"] = json.dumps(_params(first), **COMPACT)
    if settings.get("sms_up_extend_code"):
        params["SmsUpExtendCode"] = str(settings["sms_up_extend_code"])
    return params


def _numbers(value: Any) -> set[str]:
    """MediaMobiles / NotMediaMobiles: a comma-separated string (or a list) of numbers."""
    items = value if isinstance(value, list) else str(value or "").split(",")
    return {aliyun.comparable(str(n)) for n in items if str(n).strip()}


def card_results(answer: aliyun.Answer, numbers: list[str], kind: str) -> list[Result]:
    data = answer.body.get("Data") if isinstance(answer.body.get("Data"), dict) else {}
    if answer.status == 200 and answer.code == "OK" and data:
        card_id = str(data.get("BizCardId") or "")
        fallback_id = str(data.get({"SMS": "BizSmsId", "DIGITALSMS": "BizDigitalId"}.get(kind, "")) or "")
        no_card = _numbers(data.get("NotMediaMobiles"))
        results = []
        for number in numbers:
            if aliyun.comparable(number) in no_card:
                if not fallback_id:
                    results.append(Result("permanent", reason="the handset cannot show a card SMS and no "
                                                              "fallback is configured"))
                else:
                    results.append(Result("accepted", provider_message_id=aliyun.report_key(fallback_id, number)))
            elif card_id:
                results.append(Result("accepted", provider_message_id=aliyun.report_key(card_id, number)))
            else:
                results.append(Result("permanent", reason="Alibaba Cloud SendCardSms answered OK without a BizCardId"))
        return results
    return [aliyun.failure(answer, aliyun_sms.RETRYABLE_CODES, what="Alibaba Cloud SendCardSms")] * len(numbers)


@register_callback("aliyun_card_sms")
def handle_reports(provider: Provider, callback: Callback) -> CallbackResult:
    """Card and fallback delivery reports arrive as SmsReport pushes (token-protected)."""
    return aliyun_sms.handle_reports(provider, callback)
