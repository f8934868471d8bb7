"""Alibaba Cloud card SMS (SendCardSms with fallback) and DirectMail (SingleSendMail)."""
from __future__ import annotations

import json

import pytest

from chalicelib.providers import aliyun, aliyun_card_sms, aliyun_dm
from tests.providers.stub_config import make, outgoing
from tests.providers.test_aliyun_sms import CREDS, report, signed_form

CARD_OK = {"Code": "OK", "Message": "OK", "RequestId": "r", "Success": True,
           "Data": {"BizCardId": "123456^0", "BizSmsId": "1234576^0", "BizDigitalId": "12346^0",
                    "CardTmpState": 3, "MediaMobiles": "13800000000", "NotMediaMobiles": "13800000001"}}


def card(httpserver, **settings):
    return make("aliyun_card_sms", "sms", {"sign_name": "Shop", **settings}, CREDS, endpoint=httpserver.url_for("/"))


def card_message(n: int, to: str, **extra):
    return outgoing(n, to=to, external_id="CARD_SMS_70", fallback_external_id="SMS_2342",
                    params={"name": f"u{n}"}, custom_url="https://alibaba.com", media=["mat-1"], **extra)


def test_a_card_sms_names_the_card_template_its_objects_and_the_sms_fallback(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(CARD_OK)
    batch = [card_message(0, "+8613800000000"),
             outgoing(1, to="+8613800000001", external_id="CARD_SMS_70", fallback_external_id="SMS_2342",
                      params={"name": "u0"}, custom_url="https://alibaba.com")]
    results = card(httpserver).send(batch)
    [(request, _)] = httpserver.log
    form = signed_form(request)
    assert form["Action"] == "SendCardSms" and form["Version"] == "2017-05-25"
    assert form["CardTemplateCode"] == "CARD_SMS_70"
    assert form["SignName"] == "Shop"
    assert form["FallbackType"] == "SMS" and form["SmsTemplateCode"] == "SMS_2342"
    assert json.loads(form["SmsTemplateParam"]) == {"name": "u0"}
    objects = json.loads(form["CardObjects"])
    assert [{**o, "dyncParams": json.loads(o["dyncParams"])} for o in objects] == [
        {"mobile": "8613800000000", "dyncParams": {"name": "u0"}, "customUrl": "https://alibaba.com"},
        {"mobile": "8613800000001", "dyncParams": {"name": "u0"}, "customUrl": "https://alibaba.com"}]
    # the card went to the first number; the second got the plain SMS fallback
    assert [r.provider_message_id for r in results] == ["123456^0:13800000000", "1234576^0:13800000001"]


def test_messages_whose_fallback_params_differ_are_separate_calls(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(CARD_OK)
    card(httpserver).send([card_message(0, "+8613800000000"), card_message(1, "+8613800000001")])
    assert len(httpserver.log) == 2
    assert all(signed_form(req)["OutId"].startswith("key-") for req, _ in httpserver.log)


def test_without_fallback_a_handset_that_cannot_show_cards_fails(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(CARD_OK)
    results = card(httpserver, fallback_type="NONE").send([
        outgoing(0, to="+8613800000000", external_id="CARD_SMS_70"),
        outgoing(1, to="+8613800000001", external_id="CARD_SMS_70")])
    assert signed_form(httpserver.log[0][0])["FallbackType"] == "NONE"
    assert "SmsTemplateCode" not in signed_form(httpserver.log[0][0])
    assert [r.outcome for r in results] == ["accepted", "permanent"]


def test_a_card_message_needs_the_fallback_template_the_provider_is_configured_for(httpserver):
    [result] = card(httpserver).send([outgoing(0, external_id="CARD_SMS_70")])
    assert result.outcome == "permanent" and "fallback_external_id" in result.reason
    assert httpserver.log == []


def test_card_sms_errors_are_mapped(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发流控", "RequestId": "r"})
    [result] = card(httpserver).send([card_message(0, "+8613800000000")])
    assert result.outcome == "retryable"


def test_card_sms_delivery_reports_use_the_sms_report_format(httpserver):
    body = [{"phone_number": "13800000001", "send_time": "2017-01-01 00:00:00", "report_time": "2017-01-01 00:00:05",
             "success": True, "err_code": "DELIVERED", "err_msg": "ok", "sms_size": "1", "biz_id": "1234576^0",
             "out_id": ""}]
    [receipt] = card(httpserver).handle_callback(report(body)).receipts
    assert receipt.provider_message_id == "1234576^0:13800000001"


def test_media_of_a_card_template_are_resolved_by_the_material_library(monkeypatch):
    with pytest.raises(LookupError):
        aliyun_card_sms.media_resources("ws1", ["mat-1"])
    monkeypatch.setattr(aliyun_card_sms, "media_resolver", lambda ws, ids: [f"res-{i}" for i in ids])
    assert aliyun_card_sms.media_resources("ws1", ["mat-1"]) == ["res-mat-1"]


# ------------------------------------------------------------------------------------- DirectMail

def dm(httpserver, **settings):
    return make("aliyun_dm", "email", {"account_name": "news@mail.example.com", "from_alias": "Shop",
                                       "tag_name": "spring", "click_trace": True, **settings},
                CREDS, endpoint=httpserver.url_for("/"))


def mail(n: int, **extra):
    return outgoing(n, channel="email", to=f"user{n}@example.com", subject="Spring sale",
                    html="<body><a href=\"https://example.com\">Shop</a></body>", text="Shop now", **extra)


def test_an_email_is_a_signed_single_send_mail_and_its_env_id_is_kept(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"EnvId": "600000xxxxxxxxxx642", "RequestId": "2D086F6-xxxx-xxxx-xxxx-006DED011A85"})
    [result] = dm(httpserver).send([mail(1)])
    assert (result.outcome, result.provider_message_id) == ("accepted", "600000xxxxxxxxxx642")
    form = signed_form(httpserver.log[0][0])
    assert form["Action"] == "SingleSendMail" and form["Version"] == "2015-11-23"
    assert {k: form[k] for k in ("AccountName", "AddressType", "ReplyToAddress", "ToAddress", "Subject", "HtmlBody",
                                 "TextBody", "FromAlias", "TagName", "ClickTrace")} == {
        "AccountName": "news@mail.example.com", "AddressType": "1", "ReplyToAddress": "false",
        "ToAddress": "user1@example.com", "Subject": "Spring sale",
        "HtmlBody": "<body><a href=\"https://example.com\">Shop</a></body>", "TextBody": "Shop now",
        "FromAlias": "Shop", "TagName": "spring", "ClickTrace": "1"}


def test_click_tracking_is_off_unless_configured(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json({"EnvId": "1", "RequestId": "r"})
    make("aliyun_dm", "email", {"account_name": "a@b.c"}, CREDS, endpoint=httpserver.url_for("/")).send([mail(1)])
    form = signed_form(httpserver.log[0][0])
    assert form["ClickTrace"] == "0" and "TagName" not in form and "FromAlias" not in form


@pytest.mark.parametrize("status, code, outcome", [
    (400, "InvalidToAddress", "permanent"), (404, "InvalidMailAddress.NotFound", "permanent"),
    (400, "Throttling.User", "retryable"), (503, "ServiceUnavailable", "retryable"),
])
def test_directmail_errors_are_mapped(httpserver, status, code, outcome):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"Code": code, "Message": "described", "RequestId": "r", "HostId": "dm.aliyuncs.com"}, status=status)
    [result] = dm(httpserver).send([mail(1)])
    assert result.outcome == outcome and code in result.reason


def test_batch_send_mail_sends_a_stored_template_to_a_stored_receiver_list(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json({"EnvId": "env-9", "RequestId": "r"})
    result = aliyun_dm.batch_send_mail(dm(httpserver), "spring-template", "vip-list")
    assert result.provider_message_id == "env-9"
    form = signed_form(httpserver.log[0][0])
    assert (form["Action"], form["TemplateName"], form["ReceiversName"], form["TagName"]) == (
        "BatchSendMail", "spring-template", "vip-list", "spring")


def test_the_endpoint_defaults_to_the_public_api():
    provider = make("aliyun_dm", "email", {"account_name": "a@b.c"}, CREDS)
    assert aliyun_dm.base_url(provider) == "https://dm.aliyuncs.com"
    assert aliyun.phone_digits("+86 138-0000-0000") == "8613800000000"


# ------------------------------------------------------------------------------------- defaults

def test_published_defaults_fill_only_what_the_account_leaves_unset():
    sms = make("aliyun_sms", "sms", {"sign_name": "Shop"}, CREDS)
    own = make("aliyun_sms", "sms", {"sign_name": "Shop", "cost_per_message": 0.05, "batch_size": 10}, CREDS)
    assert (sms.config.cost_per_message, sms.batch_size) == (0.045, 100)
    assert (own.config.cost_per_message, own.batch_size) == (0.05, 10)
    assert make("aliyun_card_sms", "sms", {"sign_name": "Shop"}, CREDS).config.rate_limit == 1000
    assert make("twilio", "sms", {"from_number": "+1"}, {}).config.rate_limit == 1.0
    assert make("aliyun_dm", "email", {"account_name": "a@b.c"}, CREDS).config.rate_limit is None
