"""Alibaba Cloud card SMS templates: the Template JSON built from a template's body and
materials, the calls that create it (GetOSSInfoForCardTemplate, the OSS form upload,
GetMediaResourceId, CreateCardSmsTemplate) checked request by request with their RPC
signatures recomputed, the documented answers and errors replayed, and the vendors'
verdict (QueryCardSmsTemplate) as our review states."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from werkzeug import Request, Response

from chalicelib.providers import aliyun_card_template as cards
from chalicelib.providers import aliyun_sms
from tests.providers.stub_config import make
from tests.providers.test_aliyun_sms import CREDS, signed_form

PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x02" * 64
IMAGE = cards.Media(id="mat0000000000000001", kind="image", filename="Summer banner.png", content_type="image/png",
                    size=len(PNG))
VIDEO = cards.Media(id="mat0000000000000002", kind="video", filename="teaser.mp4", content_type="video/mp4",
                    size=len(MP4))
FILES = {IMAGE.id: PNG, VIDEO.id: MP4}
CARD = cards.Card(name="summer", title="夏季促销", text="${name}，新品上市", sign_name="Shop", scene="promo",
                  image_ratio="16:9", button_text="去看看", button_url="https://shop.example/s/${code}",
                  examples={"name": "张三", "code": "abc1"}, vendors=("HuaWei", "OPPO"), memo="summer sale card")


def oss_info(host: str) -> dict[str, Any]:
    """GetOSSInfoForCardTemplate's documented answer (its example values, our host)."""
    return {"Code": "OK", "RequestId": "A90E4451-FED7-49D2-87C8-00700A8C4D0D", "Success": True,
            "Data": {"Signature": "wQ5XTtBJRpDMcIjXQB8ma06****=", "Host": host, "Policy": "eyJxxx0=",
                     "ExpireTime": "1634209418", "AliUid": "599333677478****", "AccessKeyId": "LTAIxetqt1Dg****",
                     "StartPath": "1631792777", "Bucket": "alicom-cardsms-resources"}}


class Alibaba:
    """The RPC endpoint and the OSS bucket on one pytest-httpserver: records each call and
    answers from ``answers`` (action -> body), the documented successes by default."""

    def __init__(self, httpserver, **answers: Any):
        self.server = httpserver
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.uploads: list[SimpleNamespace] = []
        self.answers: dict[str, Any] = {
            "GetOSSInfoForCardTemplate": oss_info(httpserver.url_for("/oss")),
            "GetMediaResourceId": lambda form: {"Code": "OK", "RequestId": "F07CF237", "Success": True, "Data": {
                "ResUrlDownload": "http://test-example.com/download.jpg",
                "ResourceId": 28749 + [c[0] for c in self.calls].count("GetMediaResourceId")}},
            "CreateCardSmsTemplate": {"Code": "OK", "RequestId": "F655A8D5", "Success": True,
                                      "Data": {"TemplateCode": "CARD_SMS_60000001"}},
            **answers,
        }
        httpserver.expect_request("/", method="POST").respond_with_handler(self.rpc)
        httpserver.expect_request("/oss/", method="POST").respond_with_handler(self.oss)

    def rpc(self, request: Request) -> Response:
        assert request.path == "/" and request.query_string == b""
        form = signed_form(request)
        self.calls.append((form["Action"], form))
        answer = self.answers[form["Action"]]
        if isinstance(answer, Response):
            return answer
        body = answer(form) if callable(answer) else answer
        return Response(json.dumps(body, ensure_ascii=False), content_type="application/json")

    def oss(self, request: Request) -> Response:
        raw = request.get_data()
        parsed = Request({**request.environ, "wsgi.input": io.BytesIO(raw), "CONTENT_LENGTH": str(len(raw))})
        file = parsed.files["file"]
        self.uploads.append(SimpleNamespace(
            method=request.method, path=request.path, mimetype=request.mimetype, form=parsed.form.to_dict(),
            fields=list(parsed.form.keys()), file=file.read(), file_type=file.mimetype, file_name=file.filename,
            file_is_last=raw.rindex(b'name="file"') > max(raw.index(f'name="{f}"'.encode()) for f in parsed.form)))
        self.calls.append(("PostObject", self.uploads[-1].form))
        answer = self.answers.get("PostObject")
        return answer if isinstance(answer, Response) else Response("", status=200)

    def actions(self) -> list[str]:
        return [action for action, _ in self.calls]


def provider(httpserver, **settings: Any):
    return make("aliyun_card_sms", "sms", {"sign_name": "Shop", **settings}, CREDS, endpoint=httpserver.url_for("/"))


# --------------------------------------------------------------------------- the card we build

def test_a_picture_card_is_one_image_a_title_the_body_and_a_button_in_position_order():
    template = cards.template_json(CARD, [IMAGE], {IMAGE.id: "28755"})
    assert template == {
        "extendInfo": {"scene": "promo", "purpose": "1", "params": [
            {"name": "${name}", "type": 1, "example": "张三"}, {"name": "${code}", "type": 1, "example": "abc1"}]},
        "templateContent": {"pages": [{"tmpCards": [
            {"type": "IMAGE", "srcType": 1, "src": "28755", "positionNumber": 1},
            {"type": "TEXT", "content": "夏季促销", "isTextTitle": True, "positionNumber": 2},
            {"type": "TEXT", "content": "${name}，新品上市", "isTextTitle": False, "positionNumber": 3},
            {"type": "BUTTON", "content": "去看看", "actionType": "OPEN_BROWSER",
             "action": {"target": "https://shop.example/s/${code}", "merchantName": "Shop"}, "positionNumber": 4},
        ]}]},
        "cardSignName": "Shop", "cardType": 5}


def test_a_video_card_shows_the_video_with_the_image_as_its_cover_and_a_trial_card_says_so():
    trial = cards.Card(name="t", title="测试标题", text="测试正文", sign_name="Shop", scene="promo", image_ratio="16:9",
                       commercial=False)
    template = cards.template_json(trial, [VIDEO, IMAGE], {IMAGE.id: "28754", VIDEO.id: "28753"})
    assert template["cardType"] == 4 and template["extendInfo"] == {"scene": "promo", "purpose": "2"}
    [page] = template["templateContent"]["pages"]
    assert page["tmpCards"][0] == {"type": "VIDEO", "srcType": 1, "src": "28753", "cover": "28754",
                                   "positionNumber": 1}
    assert [c["type"] for c in page["tmpCards"]] == ["VIDEO", "TEXT", "TEXT"]


@pytest.mark.parametrize("media, words", [
    ([IMAGE, cards.Media("mat3", "audio", "a.mp3", "audio/mpeg", 10)], "images and video only"),
    ([IMAGE, IMAGE], "one image"),
    ([VIDEO], "one image"),
    ([cards.Media("mat4", "image", "a.gif", "image/gif", 10)], "PNG or JPEG"),
    ([cards.Media("mat5", "image", "a.png", "image/png", 2 * 1024 * 1024 + 1)], "at most 2097152 bytes"),
    ([IMAGE, cards.Media("mat6", "video", "a.3gp", "video/3gpp", 10)], "MP4"),
])
def test_materials_that_cannot_make_a_card_are_named(media, words):
    assert any(words in problem for problem in cards.media_problems(media))


def test_a_good_card_has_no_problems():
    assert cards.media_problems([IMAGE]) == [] and cards.media_problems([VIDEO, IMAGE]) == []
    assert cards.card_problems(CARD) == []


@pytest.mark.parametrize("change, field, words", [
    ({"text": "Hi {{ profile.attributes.name }}"}, "body", "not Liquid"),
    ({"text": "Hi ${first_name}", "examples": {"first_name": "x"}}, "body", "cannot contain '_'"),
    ({"examples": {"name": "张三"}}, "examples", "code"),
    ({"button_url": "http://shop.example"}, "button.url", "https"),
])
def test_a_card_alibaba_would_refuse_is_refused_first(change, field, words):
    problems = cards.card_problems(cards.Card(**{**CARD.__dict__, **change}))
    assert any(f == field and words in message for f, message in problems), problems


# ------------------------------------------------------------------------------ the calls

def test_a_submission_uploads_each_material_registers_it_and_creates_the_card(httpserver):
    alibaba = Alibaba(httpserver)
    code = cards.submit(provider(httpserver), CARD, [IMAGE], lambda m: FILES[m.id])

    assert code == "CARD_SMS_60000001"
    assert alibaba.actions() == ["GetOSSInfoForCardTemplate", "PostObject", "GetMediaResourceId",
                                 "CreateCardSmsTemplate"]
    info = alibaba.calls[0][1]
    assert {k: v for k, v in info.items() if k not in ("SignatureNonce", "Timestamp")} == {
        "Action": "GetOSSInfoForCardTemplate", "Version": "2017-05-25", "Format": "JSON", "AccessKeyId": "testid",
        "SignatureMethod": "HMAC-SHA1", "SignatureVersion": "1.0"}
    # the OSS form upload: the policy Alibaba signed, the key under StartPath/, the file last
    [upload] = alibaba.uploads
    assert upload.method == "POST" and upload.path == "/oss/"
    assert upload.mimetype == "multipart/form-data"
    key = f"1631792777/{IMAGE.id}/Summer_banner.png"
    assert upload.form == {"key": key, "policy": "eyJxxx0=", "OSSAccessKeyId": "LTAIxetqt1Dg****",
                                     "Signature": "wQ5XTtBJRpDMcIjXQB8ma06****=", "success_action_status": "200"}
    assert upload.fields[0] == "key" and upload.file_is_last  # OSS reads the fields before the file
    assert (upload.file, upload.file_type, upload.file_name) == (PNG, "image/png", "Summer_banner.png")
    media = alibaba.calls[2][1]
    assert (media["ResourceType"], media["OssKey"], media["FileSize"], media["Memo"]) == (
        "2", f"oss://alicom-cardsms-resources/{key}", str(len(PNG)), "Summer banner.png")
    assert json.loads(media["ExtendInfo"]) == {"img_rate": "sixteenToNine"}
    create = alibaba.calls[3][1]
    assert (create["TemplateName"], create["Memo"], create["Factorys"]) == ("summer", "summer sale card", "HuaWei,OPPO")
    assert json.loads(create["Template"]) == cards.template_json(CARD, [IMAGE], {IMAGE.id: "28750"})


def test_a_video_card_uploads_the_video_as_resource_type_4_without_an_image_ratio(httpserver):
    alibaba = Alibaba(httpserver)
    cards.submit(provider(httpserver), CARD, [VIDEO, IMAGE], lambda m: FILES[m.id])
    registered = [form for action, form in alibaba.calls if action == "GetMediaResourceId"]
    assert [(f["ResourceType"], "ExtendInfo" in f) for f in registered] == [("4", False), ("2", True)]
    [video_upload, image_upload] = alibaba.uploads
    assert (video_upload.file, video_upload.file_type) == (MP4, "video/mp4") and image_upload.file == PNG
    template = json.loads(alibaba.calls[-1][1]["Template"])
    assert template["templateContent"]["pages"][0]["tmpCards"][0]["src"] == "28750"
    assert template["templateContent"]["pages"][0]["tmpCards"][0]["cover"] == "28751"


@pytest.mark.parametrize("action, answer, retryable, words", [
    ("CreateCardSmsTemplate", {"Code": "Throttling.User", "Message": "Request was denied due to user flow control.",
                               "RequestId": "r"}, True, "Throttling.User"),
    ("GetOSSInfoForCardTemplate", {"Code": "ForbiddenAction", "Message": "Access to the account is denied. Please "
                                   "contact the administrator.", "RequestId": "r"}, False, "ForbiddenAction"),
    ("GetMediaResourceId", {"Code": "isv.INVALID_PARAMETERS", "Message": "参数异常", "RequestId": "r"}, False,
     "isv.INVALID_PARAMETERS"),
    ("CreateCardSmsTemplate", Response("{}", status=503, content_type="application/json"), True, "HTTP 503"),
])
def test_alibabas_refusals_and_outages_stop_the_submission(httpserver, action, answer, retryable, words):
    alibaba = Alibaba(httpserver, **{action: answer})
    with pytest.raises(cards.SubmissionFailed) as failed:
        cards.submit(provider(httpserver), CARD, [IMAGE], lambda m: FILES[m.id])
    assert failed.value.retryable is retryable and words in failed.value.reason
    assert alibaba.actions()[-1] == action  # nothing after the refused step


def test_a_refused_upload_names_the_oss_error_code(httpserver):
    denied = Response("<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Invalid according to Policy"
                      "</Message></Error>", status=403, content_type="application/xml")
    alibaba = Alibaba(httpserver, PostObject=denied)
    with pytest.raises(cards.SubmissionFailed) as failed:
        cards.submit(provider(httpserver), CARD, [IMAGE], lambda m: FILES[m.id])
    assert not failed.value.retryable and "HTTP 403 (AccessDenied)" in failed.value.reason
    assert alibaba.actions() == ["GetOSSInfoForCardTemplate", "PostObject"]


# ------------------------------------------------------------------------------ review

def query_card(state: int, ops: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"Code": "OK", "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", "Success": True,
            "Data": {"Templates": [{"tmpName": "summer", "tmpCode": "CARD_SMS_60000001", "state": state,
                                    "tmpOps": ops or []}]}}


def query_sms(status: int) -> dict[str, Any]:
    return {"Code": "OK", "Message": "OK", "TemplateCode": "SMS_2342", "TemplateStatus": status, "Reason": "",
            "RequestId": "r"}


SIGN_OK = {"Code": "OK", "Message": "OK", "SignName": "Shop", "SignStatus": 1, "Reason": "", "RequestId": "r"}


def card_template(**spec: Any) -> Any:
    return SimpleNamespace(spec=SimpleNamespace(**{"external_id": "CARD_SMS_60000001",
                                                   "fallback_external_id": "SMS_2342", "signature": None, **spec}))


def test_an_approved_card_with_an_approved_fallback_and_signature_is_approved(httpserver):
    alibaba = Alibaba(httpserver, QueryCardSmsTemplate=query_card(1, [{"state": 1, "vendorCode": "HuaWei"}]),
                      QuerySmsTemplate=query_sms(1), QuerySmsSign=SIGN_OK)
    assert cards.sync_review(provider(httpserver), card_template()) == aliyun_sms.Review("approved")
    assert alibaba.actions() == ["QueryCardSmsTemplate", "QuerySmsTemplate", "QuerySmsSign"]
    assert alibaba.calls[0][1]["TemplateCode"] == "CARD_SMS_60000001"
    assert alibaba.calls[1][1]["TemplateCode"] == "SMS_2342"


def test_the_vendors_remarks_are_the_reason_of_a_rejected_card(httpserver):
    Alibaba(httpserver, QueryCardSmsTemplate=query_card(2, [
        {"tmpOpId": "536363", "vendorTmpId": "60030289", "state": 2, "vendorCode": "XiaoMi", "remark": "图片模糊"},
        {"state": 1, "vendorCode": "HuaWei", "remark": "通过"}]), QuerySmsTemplate=query_sms(1), QuerySmsSign=SIGN_OK)
    review = cards.sync_review(provider(httpserver), card_template())
    assert review.status == "rejected"
    assert review.reason == "card template CARD_SMS_60000001: XiaoMi: 图片模糊"


def test_a_card_under_review_or_a_fallback_under_review_stays_pending(httpserver):
    Alibaba(httpserver, QueryCardSmsTemplate=query_card(0), QuerySmsTemplate=query_sms(1), QuerySmsSign=SIGN_OK)
    assert cards.sync_review(provider(httpserver), card_template()).status == "pending"


def test_without_a_plain_sms_fallback_only_the_card_and_signature_are_asked(httpserver):
    alibaba = Alibaba(httpserver, QueryCardSmsTemplate=query_card(1), QuerySmsSign=SIGN_OK)
    review = cards.sync_review(provider(httpserver, fallback_type="NONE"), card_template())
    assert review.status == "approved" and alibaba.actions() == ["QueryCardSmsTemplate", "QuerySmsSign"]


def test_a_card_never_submitted_is_not_asked_about(httpserver):
    review = cards.sync_review(provider(httpserver), card_template(external_id=None))
    assert review.status == "rejected" and "not submitted" in (review.reason or "")
    assert httpserver.log == []


def test_a_throttled_review_query_leaves_the_template_as_it_is(httpserver):
    Alibaba(httpserver, QueryCardSmsTemplate={"Code": "Throttling.User", "Message": "flow control", "RequestId": "r"})
    with pytest.raises(aliyun_sms.ReviewUnavailable, match="Throttling.User"):
        cards.sync_review(provider(httpserver), card_template())


# ----------------------------------------------------- check_support: QueryMobilesCardSupport

def support(*numbers: tuple[str, bool]) -> dict[str, Any]:
    """QueryMobilesCardSupport's documented answer shape."""
    return {"Code": "OK", "RequestId": "08C17DFE-2E10-54F4-BAFB-7180039CC217", "Success": True,
            "Data": {"QueryResult": [{"Mobile": n, "Support": s} for n, s in numbers]}}


SMS_OK = {"Code": "OK", "Message": "OK", "BizId": "9006197469364984^0", "RequestId": "r"}
CARD_ONLY_OK = {"Code": "OK", "Message": "OK", "RequestId": "r", "Success": True,
                "Data": {"BizCardId": "123456^0", "BizSmsId": "", "MediaMobiles": "13800000000",
                         "NotMediaMobiles": ""}}


def card_messages():
    from tests.providers.stub_config import outgoing

    return [outgoing(i, to=f"+861380000000{i}", external_id="CARD_SMS_70", fallback_external_id="SMS_2342",
                     params={"name": "u"}) for i in range(2)]


def test_with_check_support_handsets_that_cannot_show_cards_get_the_plain_sms_directly(httpserver):
    alibaba = Alibaba(httpserver, QueryMobilesCardSupport=support(("13800000000", True), ("13800000001", False)),
                      SendCardSms=CARD_ONLY_OK, SendSms=SMS_OK)
    results = provider(httpserver, check_support=True).send(card_messages())

    assert alibaba.actions() == ["QueryMobilesCardSupport", "SendCardSms", "SendSms"]
    query = alibaba.calls[0][1]
    assert (query["TemplateCode"], query["EncryptType"]) == ("CARD_SMS_70", "NORMAL")
    assert json.loads(query["Mobiles"]) == [{"mobile": "13800000000"}, {"mobile": "13800000001"}]
    assert [o["mobile"] for o in json.loads(alibaba.calls[1][1]["CardObjects"])] == ["8613800000000"]
    sms = alibaba.calls[2][1]
    assert (sms["PhoneNumbers"], sms["TemplateCode"], sms["SignName"]) == ("8613800000001", "SMS_2342", "Shop")
    assert [r.provider_message_id for r in results] == ["123456^0:13800000000", "9006197469364984^0:13800000001"]


def test_with_check_support_and_no_fallback_a_handset_without_cards_is_not_sent_to(httpserver):
    alibaba = Alibaba(httpserver, QueryMobilesCardSupport=support(("13800000000", True), ("13800000001", False)),
                      SendCardSms=CARD_ONLY_OK)
    results = provider(httpserver, check_support=True, fallback_type="NONE").send(card_messages())
    assert alibaba.actions() == ["QueryMobilesCardSupport", "SendCardSms"]
    assert [r.outcome for r in results] == ["accepted", "permanent"]
    assert "cannot show a card" in (results[1].reason or "")


def test_a_failed_support_query_leaves_the_choice_to_alibabas_own_fallback(httpserver):
    from tests.providers.test_aliyun_card_sms_and_dm import CARD_OK

    alibaba = Alibaba(httpserver, QueryMobilesCardSupport={"Code": "Throttling.User", "Message": "flow control",
                                                           "RequestId": "r"}, SendCardSms=CARD_OK)
    results = provider(httpserver, check_support=True).send(card_messages())
    assert alibaba.actions() == ["QueryMobilesCardSupport", "SendCardSms"]
    assert [r.outcome for r in results] == ["accepted", "accepted"]


def test_without_check_support_no_support_query_is_made(httpserver):
    from tests.providers.test_aliyun_card_sms_and_dm import CARD_OK

    alibaba = Alibaba(httpserver, SendCardSms=CARD_OK)
    provider(httpserver).send(card_messages())
    assert alibaba.actions() == ["SendCardSms"]
