"""Alibaba Cloud SMS: the RPC signature (the documented example), SendSms / SendBatchSms
requests and answers, SmsReport delivery reports and template/signature review sync."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import quote_plus

import pytest
from werkzeug import Response

from chalicelib.providers import aliyun, aliyun_sms
from chalicelib.providers.base import Callback, CallbackMalformed, CallbackRejected
from tests.providers.stub_config import make, outgoing

CREDS = {"access_key_id": "testid", "access_key_secret": "testsecret", "callback_token": "s3cret-token"}
OK = {"Code": "OK", "Message": "OK", "BizId": "9006197469364984^0", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"}


def doc_percent_encode(value: str) -> str:
    """The documentation's recipe: URLEncoder.encode, then + -> %20, * -> %2A, %7E -> ~."""
    return quote_plus(value, safe="").replace("+", "%20").replace("*", "%2A").replace("%7E", "~")


def doc_signature(method: str, params: dict[str, str], secret: str) -> str:
    canonical = "&".join(f"{doc_percent_encode(k)}={doc_percent_encode(v)}" for k, v in sorted(params.items()))
    to_sign = f"{method}&{doc_percent_encode('/')}&{doc_percent_encode(canonical)}"
    return base64.b64encode(hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()).decode()


def signed_form(request) -> dict[str, str]:
    """The request's form, after checking its Signature against our own computation."""
    form = request.form.to_dict()
    signature = form.pop("Signature")
    assert signature == doc_signature("POST", form, CREDS["access_key_secret"])
    return form


def sms(httpserver, **settings):
    return make("aliyun_sms", "sms", {"sign_name": "Shop", **settings}, CREDS, endpoint=httpserver.url_for("/"))


# ------------------------------------------------------------------------------- signature

def test_the_documented_signature_example_is_reproduced():
    # "API 签名机制(示例)": DescribeRegions with AccessKeyId testid / secret testsecret.
    params = {"TimeStamp": "2016-02-23T12:46:24Z", "Format": "XML", "AccessKeyId": "testid",
              "Action": "DescribeRegions", "SignatureMethod": "HMAC-SHA1",
              "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf", "Version": "2014-05-26",
              "SignatureVersion": "1.0"}
    assert aliyun.string_to_sign("GET", params) == (
        "GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1"
        "%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0"
        "%26TimeStamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26")
    assert aliyun.signature("GET", params, "testsecret") == "CT9X0VtwR86fNWSnsc6v8YGOjuE="


def test_percent_encoding_follows_rfc_3986_with_the_documented_special_cases():
    assert aliyun.percent_encode("a b*c~d/é+") == "a%20b%2Ac~d%2F%C3%A9%2B"
    assert aliyun.percent_encode("a b*c~d/é+") == doc_percent_encode("a b*c~d/é+")


def test_the_common_parameters_are_signed_with_the_secret_and_an_ampersand():
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    params = aliyun.signed_params("SendSms", "2017-05-25", CREDS, {"PhoneNumbers": "8613800000000"}, now=now,
                                  nonce="n-1")
    signature = params.pop("Signature")
    assert params == {"PhoneNumbers": "8613800000000", "Action": "SendSms", "Version": "2017-05-25",
                      "Format": "JSON", "AccessKeyId": "testid", "SignatureMethod": "HMAC-SHA1",
                      "SignatureVersion": "1.0", "SignatureNonce": "n-1", "Timestamp": "2026-01-02T03:04:05Z"}
    assert signature == doc_signature("POST", params, "testsecret")


# ------------------------------------------------------------------------------- sending

def test_one_message_is_a_signed_send_sms_with_the_template_code_params_and_out_id(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(OK)
    message = outgoing(1, external_id="SMS_153055065", params={"code": "1234", "name": "张三"})
    [result] = sms(httpserver).send([message])
    assert result.outcome == "accepted"
    assert result.provider_message_id == "9006197469364984^0:13800000000"
    [(request, _)] = httpserver.log
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    form = signed_form(request)
    assert {k: form[k] for k in ("Action", "Version", "Format", "AccessKeyId", "SignatureMethod",
                                 "SignatureVersion")} == {
        "Action": "SendSms", "Version": "2017-05-25", "Format": "JSON", "AccessKeyId": "testid",
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0"}
    assert form["PhoneNumbers"] == "8613800000000"
    assert form["SignName"] == "Shop"
    assert form["TemplateCode"] == "SMS_153055065"
    assert json.loads(form["TemplateParam"]) == {"code": "1234", "name": "张三"}
    assert form["OutId"] == "key-1"


def test_a_sign_name_in_the_content_overrides_the_setting(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(OK)
    sms(httpserver).send([outgoing(1, external_id="SMS_1", sign_name="Other")])
    assert signed_form(httpserver.log[0][0])["SignName"] == "Other"


def test_a_batch_of_one_template_is_one_send_batch_sms_and_every_number_gets_its_own_id(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(OK)
    batch = [outgoing(i, to=f"+86138000000{i:02d}", external_id="SMS_1", params={"n": str(i)}) for i in range(3)]
    results = sms(httpserver).send(batch)
    assert [r.provider_message_id for r in results] == [f"9006197469364984^0:138000000{i:02d}" for i in range(3)]
    [(request, _)] = httpserver.log
    form = signed_form(request)
    assert form["Action"] == "SendBatchSms"
    assert json.loads(form["PhoneNumberJson"]) == ["8613800000000", "8613800000001", "8613800000002"]
    assert json.loads(form["SignNameJson"]) == ["Shop", "Shop", "Shop"]
    assert json.loads(form["TemplateParamJson"]) == [{"n": "0"}, {"n": "1"}, {"n": "2"}]
    assert form["TemplateCode"] == "SMS_1"


def test_messages_of_different_templates_go_in_separate_calls_and_keep_their_order(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(OK)
    batch = [outgoing(0, external_id="SMS_A"), outgoing(1, external_id="SMS_B"), outgoing(2, external_id="SMS_A")]
    results = sms(httpserver).send(batch)
    assert [r.outcome for r in results] == ["accepted"] * 3
    actions = sorted(signed_form(req)["Action"] for req, _ in httpserver.log)
    assert actions == ["SendBatchSms", "SendSms"]


def test_the_kind_never_sends_more_than_100_numbers_per_call():
    assert aliyun_sms.AliyunSms.max_batch == 100


@pytest.mark.parametrize("code, message", [
    ("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"),
    ("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法(不存在或被拉黑)"),
    ("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法(不存在或被拉黑)"),
    ("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量"),
    ("isv.AMOUNT_NOT_ENOUGH", "账户余额不足"),
])
def test_a_refused_message_fails_permanently_with_the_providers_code_and_message(httpserver, code, message):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"Code": code, "Message": message, "RequestId": "r-1"})
    [result] = sms(httpserver).send([outgoing(1, external_id="SMS_1")])
    assert result.outcome == "permanent"
    assert code in result.reason and message in result.reason


def test_business_limit_control_is_retried_a_minute_later(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json(
        {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1", "RequestId": "r"})
    [result] = sms(httpserver).send([outgoing(1, external_id="SMS_1")])
    assert (result.outcome, result.retry_after) == ("retryable", 60.0)


def test_throttling_and_server_errors_are_retryable(httpserver):
    httpserver.expect_ordered_request("/", method="POST").respond_with_json(
        {"Code": "Throttling.User", "Message": "Request was denied due to user flow control."}, status=400)
    httpserver.expect_ordered_request("/", method="POST").respond_with_response(
        Response("busy", status=503, headers={"Retry-After": "7"}))
    provider = sms(httpserver)
    first = provider.send([outgoing(1, external_id="SMS_1")])[0]
    second = provider.send([outgoing(2, external_id="SMS_1")])[0]
    assert first.outcome == "retryable" and "Throttling.User" in first.reason
    assert (second.outcome, second.retry_after) == ("retryable", 7.0)


def test_an_unreachable_endpoint_is_retryable():
    provider = make("aliyun_sms", "sms", {"sign_name": "Shop"}, CREDS, endpoint="http://127.0.0.1:9")
    [result] = provider.send([outgoing(1, external_id="SMS_1")])
    assert result.outcome == "retryable"


def test_a_message_without_a_template_code_or_number_fails_without_a_call(httpserver):
    results = sms(httpserver).send([outgoing(1), outgoing(2, to=None, external_id="SMS_1")])
    assert [r.outcome for r in results] == ["permanent", "permanent"]
    assert "external_id" in results[0].reason and "phone number" in results[1].reason
    assert httpserver.log == []


# ------------------------------------------------------------------------------- delivery reports

REPORTS = [
    {"phone_number": "13800000000", "send_time": "2017-01-01 00:00:00", "report_time": "2017-01-01 00:00:05",
     "success": True, "err_code": "DELIVERED", "err_msg": "用户接收成功", "sms_size": "1",
     "biz_id": "9006197469364984^0", "out_id": "key-1"},
    {"phone_number": "13800000001", "send_time": "2017-01-01 00:00:00", "report_time": "2017-01-01 00:00:09",
     "success": False, "err_code": "MK:0001", "err_msg": "空号", "sms_size": "1",
     "biz_id": "9006197469364984^0", "out_id": ""},
]


def report(body, token="s3cret-token") -> Callback:
    query = {"ws": "ws1", **({"token": token} if token is not None else {})}
    return Callback(method="POST", url="https://api.example.com/v1/receipts/main", headers={}, query=query,
                    body=body if isinstance(body, bytes) else json.dumps(body).encode())


def test_sms_reports_become_delivered_and_failed_receipts_matching_the_send_ids(httpserver):
    provider = sms(httpserver)
    result = provider.handle_callback(report(REPORTS))
    delivered, failed = result.receipts
    assert delivered.provider_message_id == aliyun.report_key("9006197469364984^0", "+8613800000000")
    assert (delivered.status, delivered.at) == ("delivered", datetime(2016, 12, 31, 16, 0, 5, tzinfo=timezone.utc))
    assert (failed.status, failed.reason) == ("failed", "MK:0001: 空号")
    assert failed.provider_message_id == "9006197469364984^0:13800000001"
    assert result.reply is not None and json.loads(result.reply[1])["code"] == 0


@pytest.mark.parametrize("token", [None, "", "wrong", "s3cret-token-"])
def test_a_report_without_the_right_token_is_rejected(httpserver, token):
    with pytest.raises(CallbackRejected):
        sms(httpserver).handle_callback(report(REPORTS, token=token))


def test_reports_are_refused_when_no_callback_token_is_configured():
    provider = make("aliyun_sms", "sms", {"sign_name": "Shop"}, {"access_key_id": "a", "access_key_secret": "b"})
    with pytest.raises(CallbackRejected):
        provider.handle_callback(report(REPORTS))


@pytest.mark.parametrize("body", [b"not json", {"phone_number": "1"}, [{"biz_id": "1", "phone_number": "1"}],
                                  [{**REPORTS[0], "report_time": "yesterday"}], [{**REPORTS[0], "success": "true"}]])
def test_a_report_not_in_the_documented_shape_is_malformed(httpserver, body):
    with pytest.raises(CallbackMalformed):
        sms(httpserver).handle_callback(report(body))


# ------------------------------------------------------------------------------- review sync

class Spec:
    external_id = "SMS_1"


class Template:
    spec = Spec()


def test_review_is_approved_when_alibaba_approved_both_template_and_signature(httpserver):
    httpserver.expect_request("/", method="POST", data=None).respond_with_handler(review_handler(1, 1))
    assert aliyun_sms.sync_review(sms(httpserver), Template()) == aliyun_sms.Review("approved")
    actions = {signed_form(req)["Action"]: signed_form(req) for req, _ in httpserver.log}
    assert actions["QuerySmsTemplate"]["TemplateCode"] == "SMS_1"
    assert actions["QuerySmsSign"]["SignName"] == "Shop"


def test_review_is_rejected_with_alibabas_reason(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_handler(review_handler(2, 1, "变量属性不规范"))
    review = aliyun_sms.sync_review(sms(httpserver), Template())
    assert review.status == "rejected" and "变量属性不规范" in review.reason


def test_review_is_pending_while_the_signature_is_under_review(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_handler(review_handler(1, 0))
    assert aliyun_sms.sync_review(sms(httpserver), Template()).status == "pending"


def test_a_failed_review_query_raises_rather_than_guessing(httpserver):
    httpserver.expect_request("/", method="POST").respond_with_json({"Code": "isp.SYSTEM_ERROR"}, status=500)
    with pytest.raises(aliyun_sms.ReviewUnavailable):
        aliyun_sms.sync_review(sms(httpserver), Template())


def review_handler(template_status: int, sign_status: int, reason: str = "无审批备注"):
    def handle(request):
        action = request.form["Action"]
        if action == "QuerySmsTemplate":
            body = {"Code": "OK", "Message": "OK", "TemplateCode": "SMS_1", "TemplateStatus": template_status,
                    "Reason": reason, "RequestId": "r"}
        else:
            body = {"Code": "OK", "Message": "OK", "SignName": "Shop", "SignStatus": sign_status,
                    "Reason": reason, "RequestId": "r"}
        return Response(json.dumps(body), content_type="application/json")
    return handle


def test_the_providers_verdict_approves_or_rejects_a_pending_template():
    from chalicelib.sending import content, templates

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    spec = content.parse({"channel": "sms", "name": "otp", "body": "code {{ profile.attributes.code }}",
                          "variables": {"profile.attributes.code": "0"}})
    pending = templates.new("t1", spec, now)
    assert aliyun_sms.apply_provider_review(pending, aliyun_sms.Review("pending"), now) is pending
    assert aliyun_sms.apply_provider_review(pending, aliyun_sms.Review("approved"), now).status.value == "approved"
    rejected = aliyun_sms.apply_provider_review(pending, aliyun_sms.Review("rejected", "bad"), now)
    assert (rejected.status.value, rejected.reason) == ("rejected", "bad")


def test_a_template_pending_review_takes_alibabas_verdict_through_the_api(api, workspace, httpserver):
    key = workspace.admin_key
    assert api.put("/v1/providers/ali", {"channel": "sms", "kind": "aliyun_sms", "settings": {"sign_name": "Shop"},
                                         "credentials": {**CREDS, "callback_token": "t"},
                                         "endpoint": httpserver.url_for("/")}, key=key).status == 200
    made = api.post("/v1/templates", {"channel": "sms", "name": "otp", "body": "code", "provider": "ali",
                                      "external_id": "SMS_1"}, key=key).json
    httpserver.expect_request("/", method="POST").respond_with_handler(review_handler(2, 1, "变量属性不规范"))
    rejected = api.post(f"/v1/templates/{made['id']}/sync-review", key=key)
    assert rejected.status == 200 and rejected.json["status"] == "rejected" and "变量属性不规范" in rejected.json["reason"]
    other = api.post("/v1/templates", {"channel": "sms", "name": "plain", "body": "hi"}, key=key).json
    assert api.post(f"/v1/templates/{other['id']}/sync-review", key=key).status == 400
    assert api.post(f"/v1/templates/{made['id']}/sync-review", key=workspace.key("operator")).status == 403
