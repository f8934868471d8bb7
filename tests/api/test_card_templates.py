"""Card SMS templates through the API (moto, with Alibaba on pytest-httpserver): a material
uploaded to the library, an SMS template naming it and a card SMS provider, submitted as a
card (the file copied from our uploads bucket to Alibaba's), the vendors' verdict synced,
and a send that names the card by the TemplateCode Alibaba returned."""
from __future__ import annotations

import json
from datetime import datetime, timezone

from chalicelib.sending import signature_service
from chalicelib.sending.signatures import SignatureIn
from tests.api.test_materials import PNG, ready
from tests.handlers.test_sender import invoke, record, stored
from tests.providers.test_aliyun_card_sms_and_dm import CARD_OK
from tests.providers.test_aliyun_card_template import SIGN_OK, Alibaba, query_card, query_sms
from tests.providers.test_aliyun_sms import CREDS, signed_form

SUBMISSION = {"title": "夏季促销", "image_ratio": "16:9", "scene": "promo", "examples": {"name": "张三"},
              "button": {"text": "去看看", "url": "https://shop.example/summer"}}


def card_provider(api, key, httpserver, name="card", **settings):
    reply = api.put(f"/v1/providers/{name}", {
        "channel": "sms", "kind": "aliyun_card_sms", "settings": {"sign_name": "Shop", **settings},
        "credentials": CREDS, "endpoint": httpserver.url_for("/")}, key=key)
    assert reply.status == 200, reply.json


def card_template(api, key, media, provider="card", **extra):
    reply = api.post("/v1/templates", {
        "channel": "sms", "name": "summer", "body": "${name}，新品上市", "provider": provider, "media": media,
        "fallback_external_id": "SMS_2342", "params": {"name": "{{ profile.attributes.first_name }}"},
        "variables": {"profile.attributes.first_name": "朋友"}, **extra}, key=key)
    assert reply.status == 201, reply.json
    return reply.json


def test_a_card_template_is_built_from_the_library_reviewed_by_the_vendors_and_sent_by_its_code(
        api, workspace, httpserver, app):
    key = workspace.admin_key
    alibaba = Alibaba(httpserver, QueryCardSmsTemplate=query_card(1), QuerySmsTemplate=query_sms(1),
                      QuerySmsSign=SIGN_OK, SendCardSms=CARD_OK)
    card_provider(api, key, httpserver)
    image = ready(api, workspace)
    template = card_template(api, key, [image["id"]])

    submitted = api.post(f"/v1/templates/{template['id']}/card-template", SUBMISSION, key=workspace.key("operator"))

    assert submitted.status == 200, submitted.json
    assert submitted.json["external_id"] == "CARD_SMS_60000001"
    assert (submitted.json["status"], submitted.json["version"]) == ("pending_review", 2)
    assert alibaba.actions() == ["GetOSSInfoForCardTemplate", "PostObject", "GetMediaResourceId",
                                 "CreateCardSmsTemplate"]
    [upload] = alibaba.uploads
    assert upload.file == PNG and upload.form["key"] == f"1631792777/{image['id']}/Summer_sale_banner_1.png"
    created = json.loads(alibaba.calls[-1][1]["Template"])
    assert created["cardType"] == 5 and created["cardSignName"] == "Shop"
    assert [c["type"] for c in created["templateContent"]["pages"][0]["tmpCards"]] == ["IMAGE", "TEXT", "TEXT",
                                                                                       "BUTTON"]

    synced = api.post(f"/v1/templates/{template['id']}/sync-review", key=key)
    assert synced.status == 200 and synced.json["status"] == "approved", synced.json
    assert alibaba.actions()[-3:] == ["QueryCardSmsTemplate", "QuerySmsTemplate", "QuerySmsSign"]

    now = datetime.now(timezone.utc)  # our own registry approves the signature the card is sent with
    signature_service.create(workspace.id, SignatureIn(name="Shop"), now)
    signature_service.approve(workspace.id, "Shop", None, now)
    assert api.put("/v1/profiles/u0", {"attributes": {"first_name": "小明"}, "phone": "+8613800000000"},
                   key=key).status in (200, 201)
    send = {"type": "send", "workspace_id": workspace.id, "channel": "sms", "task_id": "tsk_1",
            "provider": {"name": "card"}, "template_id": template["id"],
            "recipients": [{"user_id": "u0", "to": "+8613800000000"}]}
    assert invoke(app, record(send)) == {"batchItemFailures": []}

    [(request, _)] = [(r, a) for r, a in httpserver.log if r.path == "/" and r.form.get("Action") == "SendCardSms"]
    form = signed_form(request)
    assert form["CardTemplateCode"] == "CARD_SMS_60000001" and form["SmsTemplateCode"] == "SMS_2342"
    assert json.loads(json.loads(form["CardObjects"])[0]["dyncParams"]) == {"name": "小明"}
    assert stored(workspace.id, "u0").provider_message_id == "123456^0:13800000000"


def test_vendors_rejecting_the_card_reject_the_template_with_their_remarks(api, workspace, httpserver):
    key = workspace.admin_key
    Alibaba(httpserver, QueryCardSmsTemplate=query_card(2, [{"state": 2, "vendorCode": "OPPO", "remark": "按钮文案不规范"}]),
            QuerySmsTemplate=query_sms(1), QuerySmsSign=SIGN_OK)
    card_provider(api, key, httpserver)
    template = card_template(api, key, [ready(api, workspace)["id"]])
    assert api.post(f"/v1/templates/{template['id']}/card-template", SUBMISSION, key=key).status == 200

    synced = api.post(f"/v1/templates/{template['id']}/sync-review", key=key)

    assert synced.json["status"] == "rejected"
    assert synced.json["reason"] == "card template CARD_SMS_60000001: OPPO: 按钮文案不规范"


def test_a_version_already_at_alibaba_is_not_submitted_twice(api, workspace, httpserver):
    key = workspace.admin_key
    alibaba = Alibaba(httpserver)
    card_provider(api, key, httpserver)
    template = card_template(api, key, [ready(api, workspace)["id"]])
    assert api.post(f"/v1/templates/{template['id']}/card-template", SUBMISSION, key=key).status == 200

    again = api.post(f"/v1/templates/{template['id']}/card-template", SUBMISSION, key=key)

    assert again.status == 409 and again.json["code"] == "already_submitted"
    assert alibaba.actions().count("CreateCardSmsTemplate") == 1


def test_what_cannot_make_a_card_is_refused_before_alibaba_is_called(api, workspace, httpserver):
    key = workspace.admin_key
    alibaba = Alibaba(httpserver)
    card_provider(api, key, httpserver)
    api.put("/v1/providers/plain", {"channel": "sms", "kind": "aliyun_sms", "settings": {"sign_name": "Shop"},
                                    "credentials": CREDS, "endpoint": httpserver.url_for("/")}, key=key)
    image = ready(api, workspace)["id"]
    audio = ready(api, workspace, data=b"ID3" + b"\x00" * 40, kind="audio", filename="jingle.mp3",
                  content_type="audio/mpeg", size=43)["id"]

    unsubmitted = card_template(api, key, [image])
    early = api.post(f"/v1/templates/{unsubmitted['id']}/sync-review", key=key)
    assert early.status == 409 and early.json["code"] == "not_submitted"
    assert api.get(f"/v1/templates/{unsubmitted['id']}", key=key).json["status"] == "pending_review"

    with_audio = card_template(api, key, [image, audio])
    reply = api.post(f"/v1/templates/{with_audio['id']}/card-template", SUBMISSION, key=key)
    assert reply.status == 400 and any("no audio element" in e["message"] for e in reply.json["errors"])

    liquid = card_template(api, key, [image], body="Hi {{ profile.attributes.first_name }}")
    reply = api.post(f"/v1/templates/{liquid['id']}/card-template", SUBMISSION, key=key)
    assert reply.status == 400 and reply.json["errors"][0]["field"] == "body"

    no_example = api.post(f"/v1/templates/{liquid['id']}/card-template", {**SUBMISSION, "image_ratio": "4:3"}, key=key)
    assert no_example.status == 400 and no_example.json["errors"][0]["field"] == "image_ratio"

    plain = card_template(api, key, [image], provider="plain")
    reply = api.post(f"/v1/templates/{plain['id']}/card-template", SUBMISSION, key=key)
    assert reply.status == 400 and reply.json["errors"][0]["field"] == "provider"
    assert alibaba.calls == []


def test_alibabas_refusal_is_a_conflict_and_its_throttling_a_retry_later(api, workspace, httpserver):
    key = workspace.admin_key
    alibaba = Alibaba(httpserver, CreateCardSmsTemplate={"Code": "isv.INVALID_PARAMETERS", "Message": "模板内容不合法",
                                                         "RequestId": "r"})
    card_provider(api, key, httpserver)
    template = card_template(api, key, [ready(api, workspace)["id"]])

    refused = api.post(f"/v1/templates/{template['id']}/card-template", SUBMISSION, key=key)
    assert refused.status == 409 and refused.json["code"] == "provider_refused"
    assert "isv.INVALID_PARAMETERS" in refused.json["detail"] and "模板内容不合法" in refused.json["detail"]

    alibaba.answers["CreateCardSmsTemplate"] = {"Code": "Throttling.User", "Message": "flow control", "RequestId": "r"}
    throttled = api.post(f"/v1/templates/{template['id']}/card-template", SUBMISSION, key=key)
    assert throttled.status == 503 and throttled.headers.get("Retry-After") == "30"
    after = api.get(f"/v1/templates/{template['id']}", key=key).json
    assert (after["version"], after.get("external_id")) == (1, None)
