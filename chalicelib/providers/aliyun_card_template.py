"""Alibaba Cloud card SMS templates (dysmsapi 2017-05-25): a card built from a template and
its materials is created at Alibaba, which submits it to the handset vendors for review.

Followed (Short Message Service developer reference, card SMS): "GetOSSInfoForCardTemplate -
获取OSS上传信息", "OSS文件上传" (the card SMS page on uploading to its OSS bucket),
"GetMediaResourceId - 获取媒体资源ID", "CreateCardSmsTemplate - 创建卡片短信模板",
"卡片短信模板参数说明" (Template, ExtendInfo, TmpCard, Action), "卡片短信模板示例",
"QueryCardSmsTemplate - 查询卡片短信模板状态"; Object Storage Service "PostObject" for the
form upload. The RPC calls are signed as every dysmsapi call (``providers.aliyun``).

The steps, per submission:

1. GetOSSInfoForCardTemplate (no parameters) answers ``Data``: Host, Policy, Signature,
   AccessKeyId, StartPath, Bucket, ExpireTime: a signed POST policy for Alibaba's bucket.
2. Each material's bytes are POSTed to Host as an OSS form upload (multipart: ``key`` under
   ``StartPath/``, ``policy``, ``OSSAccessKeyId``, ``Signature``, ``success_action_status``
   200, then ``file``). No Alibaba Cloud credential of ours is used for this request.
3. GetMediaResourceId (ResourceType 2 image / 3 audio / 4 video, OssKey, FileSize, Memo,
   ExtendInfo ``{"img_rate": ...}`` for images) answers ``Data.ResourceId``.
4. CreateCardSmsTemplate (TemplateName, Template as JSON, Memo, Factorys) answers
   ``Data.TemplateCode`` (CARD_SMS_...), which the template keeps as its ``external_id``.
5. QueryCardSmsTemplate (TemplateCode) answers ``Data.Templates[]`` with ``state`` 0 under
   review, 1 approved, 2 rejected and ``tmpOps[]`` (each vendor's ``state``, ``vendorCode``
   and ``remark``), which become our review states.

Cards we build: a picture card (cardType 5, "图文模板": IMAGE, title, text, optional button)
from one image, or a video card (cardType 4, "视频模板": VIDEO with its cover image, title,
text, optional button) from one video and one image. Audio has no card element
(TmpCard types are TEXT, IMAGE, VIDEO and BUTTON), so a card cannot carry it.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from chalicelib.providers import aliyun, aliyun_sms
from chalicelib.providers.base import Provider

MB = 1024 * 1024
# GetMediaResourceId: images JPG/JPEG/PNG, a large image at most 2 MB; video MP4.
IMAGE_TYPES = ("image/png", "image/jpeg")
MAX_IMAGE_BYTES = 2 * MB
VIDEO_TYPES = ("video/mp4",)
RESOURCE_TYPES = {"image": 2, "audio": 3, "video": 4}
# GetMediaResourceId ExtendInfo img_rate, by the image's aspect ratio.
IMAGE_RATIOS = {"1:1": "oneToOne", "16:9": "sixteenToNine", "3:1": "threeToOne", "48:65": "fortyEightToSixtyFive"}
CARD_PICTURE = 5  # cardType 图文模板
CARD_VIDEO = 4  # cardType 视频模板
VENDORS = ("HuaWei", "XiaoMi", "OPPO", "VIVO", "MEIZU")  # CreateCardSmsTemplate Factorys
# A dynamic parameter: ${name}, the name without underscores ("不能带下划线").
DYNAMIC = re.compile(r"\$\{([A-Za-z0-9]+)\}")
MAX_DYNAMIC = 20
COMPACT: dict[str, Any] = {"ensure_ascii": False, "separators": (",", ":")}


@dataclass(frozen=True)
class Media:
    """A material as a card needs it."""

    id: str
    kind: str
    filename: str
    content_type: str
    size: int


@dataclass(frozen=True)
class Card:
    """What the card shows besides its media, and how it is submitted."""

    name: str
    title: str
    text: str
    sign_name: str
    scene: str
    image_ratio: str
    commercial: bool = True
    button_text: str | None = None
    button_url: str | None = None
    examples: Mapping[str, str] = field(default_factory=dict)
    vendors: tuple[str, ...] = ()
    memo: str | None = None


class SubmissionFailed(Exception):
    """Alibaba refused a step, or could not be reached (``retryable``)."""

    def __init__(self, reason: str, *, retryable: bool):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable


# --- pure: what fits a card, and the Template JSON ----------------------------------------

def media_problems(media: Sequence[Media]) -> list[str]:
    """Why these materials cannot make one of our cards (empty when they can)."""
    images = [m for m in media if m.kind == "image"]
    videos = [m for m in media if m.kind == "video"]
    problems = [f"material {m.id} is {m.kind}: a card shows images and video only (no audio element exists)"
                for m in media if m.kind not in ("image", "video")]
    problems += [f"material {m.id} is {m.content_type}: card images are PNG or JPEG"
                 for m in images if m.content_type not in IMAGE_TYPES]
    problems += [f"material {m.id} has {m.size} bytes: a card image is at most {MAX_IMAGE_BYTES} bytes (2 MB)"
                 for m in images if m.size > MAX_IMAGE_BYTES]
    problems += [f"material {m.id} is {m.content_type}: card video is MP4" for m in videos
                 if m.content_type not in VIDEO_TYPES]
    if len(images) != 1 or len(videos) > 1:
        problems.append("a card is built from one image (a picture card), or one video and one image as its "
                        f"cover (a video card); the template names {len(images)} images and {len(videos)} videos")
    return problems


def dynamic_names(card: Card) -> list[str]:
    """The ${name} parameters the card's texts and link use, in order of appearance."""
    found: list[str] = []
    for text in (card.title, card.text, card.button_text or "", card.button_url or ""):
        found += [name for name in DYNAMIC.findall(text) if name not in found]
    return found


def card_problems(card: Card) -> list[tuple[str, str]]:
    """(field, problem) for a card Alibaba would refuse (before anything is uploaded)."""
    problems: list[tuple[str, str]] = []
    if "{{" in card.text or "{%" in card.text:
        problems.append(("body", "a card's text is fixed at Alibaba when it is reviewed: write per-recipient values "
                                 "as ${name} parameters (filled from params when sending), not Liquid"))
    if re.search(r"\$\{[^}]*_[^}]*\}", " ".join((card.title, card.text, card.button_url or ""))):
        problems.append(("body", "a card parameter name cannot contain '_'; use letters and digits, such as ${name}"))
    names = dynamic_names(card)
    if len(names) > MAX_DYNAMIC:
        problems.append(("examples", f"a card has at most {MAX_DYNAMIC} parameters ({len(names)} used)"))
    missing = [name for name in names if not card.examples.get(name)]
    if missing:
        problems.append(("examples", "give an example value for each card parameter (the vendors review it): "
                                     + ", ".join(missing)))
    if card.button_url and not card.button_url.startswith("https://"):
        problems.append(("button.url", "a card button opens an https URL"))
    return problems


def template_json(card: Card, media: Sequence[Media], resources: Mapping[str, str]) -> dict[str, Any]:
    """CreateCardSmsTemplate's Template: extendInfo, one page of cards, cardSignName, cardType."""
    image = next(m for m in media if m.kind == "image")
    video = next((m for m in media if m.kind == "video"), None)
    cards: list[dict[str, Any]] = []
    if video is not None:
        cards.append({"type": "VIDEO", "srcType": 1, "src": resources[video.id], "cover": resources[image.id]})
    else:
        cards.append({"type": "IMAGE", "srcType": 1, "src": resources[image.id]})
    cards.append({"type": "TEXT", "content": card.title, "isTextTitle": True})
    cards.append({"type": "TEXT", "content": card.text, "isTextTitle": False})
    if card.button_text and card.button_url:
        cards.append({"type": "BUTTON", "content": card.button_text, "actionType": "OPEN_BROWSER",
                      "action": {"target": card.button_url, "merchantName": card.sign_name}})
    for position, element in enumerate(cards, start=1):
        element["positionNumber"] = position
    extend: dict[str, Any] = {"scene": card.scene, "purpose": "1" if card.commercial else "2"}
    names = dynamic_names(card)
    if names:
        extend["params"] = [{"name": f"${{{name}}}", "type": 1, "example": card.examples[name]} for name in names]
    return {"extendInfo": extend, "templateContent": {"pages": [{"tmpCards": cards}]},
            "cardSignName": card.sign_name, "cardType": CARD_VIDEO if video is not None else CARD_PICTURE}


# --- calls -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class UploadTarget:
    """GetOSSInfoForCardTemplate's answer: where and how to POST files."""

    host: str
    policy: str
    signature: str
    access_key_id: str
    start_path: str
    bucket: str


def _rpc(provider: Provider, credentials: Mapping[str, Any], action: str, params: dict[str, str]) -> dict[str, Any]:
    """The answer's ``Data`` of a successful call, or SubmissionFailed."""
    try:
        answer = aliyun.call(aliyun_sms.base_url(provider), action, aliyun_sms.VERSION, credentials, params,
                             region=provider.config.settings.get("region"))
    except aliyun.Unreachable as exc:
        raise SubmissionFailed(str(exc), retryable=True) from None
    data = answer.body.get("Data")
    if answer.status != 200 or answer.code != "OK" or not isinstance(data, dict):
        result = aliyun.failure(answer, aliyun_sms.RETRYABLE_CODES, what=f"Alibaba Cloud {action}")
        if answer.status == 200 and answer.code == "OK":
            result = aliyun.failure(answer, what=f"Alibaba Cloud {action} answered OK without Data")
        raise SubmissionFailed(result.reason or action, retryable=result.outcome == "retryable")
    return data


def upload_target(provider: Provider, credentials: Mapping[str, Any]) -> UploadTarget:
    data = _rpc(provider, credentials, "GetOSSInfoForCardTemplate", {})
    try:
        return UploadTarget(host=str(data["Host"]).strip(), policy=str(data["Policy"]),
                            signature=str(data["Signature"]), access_key_id=str(data["AccessKeyId"]),
                            start_path=str(data["StartPath"]), bucket=str(data.get("Bucket") or ""))
    except KeyError as missing:
        raise SubmissionFailed(f"Alibaba Cloud GetOSSInfoForCardTemplate answered without {missing}",
                               retryable=False) from None


def object_key(target: UploadTarget, material: Media) -> str:
    """Where a material goes in Alibaba's bucket: under StartPath/, as the policy requires."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", material.filename).lstrip(".")[-100:] or "file"
    return f"{target.start_path.strip('/')}/{material.id}/{name}"


def upload(target: UploadTarget, key: str, data: bytes, content_type: str) -> None:
    """An OSS PostObject form upload (the signed policy Alibaba gave); 200 asked for."""
    form = {"key": key, "policy": target.policy, "OSSAccessKeyId": target.access_key_id,
            "Signature": target.signature, "success_action_status": "200"}
    try:
        response = aliyun.CLIENT.post(target.host.rstrip("/") + "/", data=form,
                                      files={"file": (key.rsplit("/", 1)[-1], data, content_type)})
    except httpx.HTTPError as exc:
        raise SubmissionFailed(f"the upload to Alibaba's card SMS storage did not answer ({type(exc).__name__})",
                               retryable=True) from None
    if response.status_code not in (200, 201, 204):
        code = re.search(r"<Code>([^<]+)</Code>", response.text or "")
        raise SubmissionFailed(f"Alibaba's card SMS storage refused the upload: HTTP {response.status_code}"
                               + (f" ({code.group(1)})" if code else ""),
                               retryable=response.status_code >= 500 or response.status_code == 429)


def oss_key(target: UploadTarget, key: str) -> str:
    """GetMediaResourceId's OssKey for an uploaded object (the reference's example has the
    form oss://<bucket>/<object key>)."""
    return f"oss://{target.bucket}/{key}" if target.bucket else key


def media_resource_id(provider: Provider, credentials: Mapping[str, Any], target: UploadTarget, key: str,
                      material: Media, image_ratio: str) -> str:
    params = {"ResourceType": str(RESOURCE_TYPES[material.kind]), "OssKey": oss_key(target, key),
              "FileSize": str(material.size), "Memo": material.filename[:100]}
    if material.kind == "image":
        params["ExtendInfo"] = json.dumps({"img_rate": IMAGE_RATIOS[image_ratio]}, **COMPACT)
    data = _rpc(provider, credentials, "GetMediaResourceId", params)
    if data.get("ResourceId") in (None, ""):
        raise SubmissionFailed("Alibaba Cloud GetMediaResourceId answered without a ResourceId", retryable=False)
    return str(data["ResourceId"])


def create_template(provider: Provider, credentials: Mapping[str, Any], card: Card,
                    template: Mapping[str, Any]) -> str:
    params = {"TemplateName": card.name, "Template": json.dumps(template, **COMPACT),
              "Memo": card.memo or card.name}
    if card.vendors:
        params["Factorys"] = ",".join(card.vendors)
    data = _rpc(provider, credentials, "CreateCardSmsTemplate", params)
    if not data.get("TemplateCode"):
        raise SubmissionFailed("Alibaba Cloud CreateCardSmsTemplate answered without a TemplateCode", retryable=False)
    return str(data["TemplateCode"])


def submit(provider: Provider, card: Card, media: Sequence[Media], read: Callable[[Media], bytes]) -> str:
    """Upload the materials, register them as media resources, create the card template;
    its TemplateCode. ``read`` gives a material's bytes."""
    credentials = provider.config.credentials()
    target = upload_target(provider, credentials)
    resources: dict[str, str] = {}
    for material in media:
        key = object_key(target, material)
        upload(target, key, read(material), material.content_type)
        resources[material.id] = media_resource_id(provider, credentials, target, key, material, card.image_ratio)
    return create_template(provider, credentials, card, template_json(card, media, resources))


# --- review ------------------------------------------------------------------------------------

# QueryCardSmsTemplate state: 0 under review, 1 approved, 2 rejected.
_STATE: dict[int, aliyun_sms.ReviewStatus] = {0: "pending", 1: "approved", 2: "rejected"}


def card_review(data: Mapping[str, Any], code: str) -> aliyun_sms.Review:
    """The verdict in QueryCardSmsTemplate's Data for the template ``code``."""
    templates = [t for t in data.get("Templates") or [] if isinstance(t, dict)]
    found = next((t for t in templates if t.get("tmpCode") == code), templates[0] if templates else None)
    if found is None:
        raise aliyun_sms.ReviewUnavailable(f"Alibaba Cloud QueryCardSmsTemplate does not list {code}")
    try:
        status = _STATE[int(found.get("state"))]  # type: ignore[arg-type]
    except (KeyError, TypeError, ValueError):
        raise aliyun_sms.ReviewUnavailable("Alibaba Cloud QueryCardSmsTemplate answered an unknown state") from None
    remarks = [f"{op.get('vendorCode') or 'a vendor'}: {op['remark']}" for op in found.get("tmpOps") or []
               if isinstance(op, dict) and op.get("remark") and str(op.get("state")) != "1"]
    if status == "approved":
        return aliyun_sms.Review("approved")
    reason = f"card template {code}: " + ("; ".join(remarks) if remarks else
                                          ("under review by the handset vendors" if status == "pending"
                                           else "rejected by the handset vendors"))
    return aliyun_sms.Review(status, reason)


def sync_review(provider: Provider, template: Any) -> aliyun_sms.Review:
    """Alibaba's verdict on a card template (QueryCardSmsTemplate), combined with the plain
    SMS fallback template's and the signature's (QuerySmsTemplate, QuerySmsSign) when the
    provider falls back to a plain SMS: the card is only sent once all three are approved."""
    spec = template.spec
    code = getattr(spec, "external_id", None)
    if not code:
        return aliyun_sms.Review("rejected", "the template was not submitted to Alibaba Cloud as a card template "
                                             "yet (no external_id)")
    credentials = provider.config.credentials()
    try:
        data = _rpc(provider, credentials, "QueryCardSmsTemplate", {"TemplateCode": str(code)})
    except SubmissionFailed as failed:
        raise aliyun_sms.ReviewUnavailable(failed.reason) from None
    verdicts = [card_review(data, str(code))]
    settings = provider.config.settings
    fallback = getattr(spec, "fallback_external_id", None)
    if str(settings.get("fallback_type") or "SMS") == "SMS" and fallback:
        verdicts.append(aliyun_sms._query(provider, credentials, "QuerySmsTemplate", {"TemplateCode": str(fallback)},
                                          "TemplateStatus", f"fallback template {fallback}"))
    sign_name = getattr(spec, "signature", None) or settings.get("sign_name")
    if sign_name:
        verdicts.append(aliyun_sms._query(provider, credentials, "QuerySmsSign", {"SignName": str(sign_name)},
                                          "SignStatus", f"signature {sign_name}"))
    return aliyun_sms.combine(verdicts)
