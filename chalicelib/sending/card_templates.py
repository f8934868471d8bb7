"""Card SMS templates through the API: an SMS template whose provider is an Alibaba Cloud
card SMS account is submitted to Alibaba as a card built from its ``media`` (ready
materials, whose files are copied from our uploads bucket into Alibaba's) and its
``body``; the card's TemplateCode becomes the template's ``external_id`` (a new version,
still pending review), and ``sync-review`` then takes the handset vendors' verdict.

The submission is refused (400/409) before anything is sent to Alibaba when the template,
its provider or its materials cannot make a card; the provider's refusals are 409
``provider_refused`` with its code, its outages 503.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Literal

from pydantic import Field

from chalicelib import clock
from chalicelib.errors import Conflict, FieldError, Invalid, Unavailable
from chalicelib.materials import repo as materials_repo
from chalicelib.materials import service as materials
from chalicelib.providers import aliyun_card_template as cards
from chalicelib.providers.base import Provider, ProviderConfig, build
from chalicelib.schemas import JsonBool, Request, rule
from chalicelib.sending import repo_providers, template_service, templates
from chalicelib.sending.templates import Template

CARD_KIND = "aliyun_card_sms"
SCENE = rule(r"^[^\x00-\x1f\x7f]{1,10}$", "a scene is 1-10 characters without control characters")
HTTPS = rule(r"^https://[^\s]{1,1000}$", "an https URL of at most 1,000 characters")


class CardButton(Request):
    text: str = Field(min_length=1, max_length=20)
    url: str = Field(pattern=HTTPS)


class CardSubmission(Request):
    """How the template's body and media become a card at Alibaba."""

    title: str = Field(min_length=1, max_length=64, description="the card's title (its text is the template's body)")
    image_ratio: Literal["1:1", "16:9", "3:1", "48:65"] = Field(
        description="the aspect ratio of the template's image (Alibaba asks for it with each image)")
    scene: str = Field(pattern=SCENE, description="the card's scene, as Alibaba's review sees it")
    commercial: JsonBool = Field(True, description="false: Alibaba's trial stage (texts must then say 测试)")
    button: CardButton | None = None
    examples: dict[str, str] = Field(default_factory=dict, max_length=cards.MAX_DYNAMIC, description=(
        "an example value for each ${name} parameter of the title, body and button URL"))
    vendors: list[Literal["HuaWei", "XiaoMi", "OPPO", "VIVO", "MEIZU"]] | None = Field(
        None, min_length=1, max_length=5, description="the handset vendors to submit to (default: Alibaba chooses)")
    memo: str | None = Field(None, min_length=1, max_length=200)


def submit(workspace_id: str, template_id: str, request: CardSubmission, now: datetime) -> template_service.TemplateOut:
    """Create the template's card at Alibaba and keep its TemplateCode as ``external_id``."""
    template = template_service._current(workspace_id, template_id)
    provider = _card_provider(workspace_id, template)
    media_ids = list(getattr(template.spec, "media", None) or [])
    found = materials_repo.get_many(workspace_id, media_ids)
    problems = materials.media_problems(workspace_id, media_ids)
    if problems:
        raise Conflict("media_not_ready", "; ".join(f"{e.field}: {e.message}" for e in problems))
    media = [cards.Media(id=m.id, kind=m.kind.value, filename=m.filename, content_type=m.content_type, size=m.size)
             for m in (found[i] for i in media_ids)]
    card = _card(template, request, provider.config.settings.get("sign_name"))
    _check(template, card, media)
    try:
        code = cards.submit(provider, card, media, lambda m: materials.read_bytes(found[m.id]))
    except cards.SubmissionFailed as failed:
        if failed.retryable:
            raise Unavailable(f"Alibaba Cloud could not take the card now: {failed.reason}", retry_after=30) from None
        raise Conflict("provider_refused", failed.reason) from None
    return template_service._change(workspace_id, template_id,
                                    lambda current: with_card_code(current, template.version, code, now))


def _card_provider(workspace_id: str, template: Template) -> Provider:
    if template.spec.channel != "sms":
        raise Conflict("not_a_card", f"only an SMS template can become a card SMS template, not {template.spec.channel}")
    name = template.spec.provider
    account = repo_providers.get(workspace_id, name) if name else None
    if account is None or account.kind != CARD_KIND:
        raise Invalid("provider", "the template must name an Alibaba Cloud card SMS provider account "
                                  f"(kind {CARD_KIND}) of this workspace")
    settings = {**account.settings, **({"endpoint": account.endpoint} if account.endpoint else {})}
    return build(ProviderConfig(workspace_id, account.name, account.kind, account.channel, settings))


def _card(template: Template, request: CardSubmission, sign_name: object) -> cards.Card:
    spec = template.spec
    sign = getattr(spec, "signature", None) or sign_name
    if not sign:
        raise Invalid("signature", "a card names its signature: set the template's signature or the provider's "
                                   "sign_name")
    return cards.Card(
        name=spec.name, title=request.title, text=str(getattr(spec, "body", "")), sign_name=str(sign),
        scene=request.scene, image_ratio=request.image_ratio, commercial=request.commercial,
        button_text=request.button.text if request.button else None,
        button_url=request.button.url if request.button else None, examples=dict(request.examples),
        vendors=tuple(request.vendors or ()), memo=request.memo)


def _check(template: Template, card: cards.Card, media: list[cards.Media]) -> None:
    if template.status is not templates.Status.PENDING_REVIEW:
        raise Conflict("invalid_state", f"only a template pending review is submitted; this one is "
                                        f"{template.status.value} (edit it to submit a new version)")
    if getattr(template.spec, "external_id", None):
        raise Conflict("already_submitted", f"this version is already at the provider as "
                                            f"{template.spec.external_id}; edit the template to submit a new version")
    if not media:
        raise Invalid("media", "a card template names its image (and video) in media")
    errors = [FieldError(f, m) for f, m in cards.card_problems(card)]
    errors += [FieldError("media", problem) for problem in cards.media_problems(media)]
    if errors:
        raise Invalid(errors=errors)


def with_card_code(template: Template, submitted_version: int, code: str, now: datetime) -> Template:
    """The template with the card's TemplateCode as ``external_id``: a new version, pending
    review (by the vendors). Refused if the template changed while it was submitted."""
    if template.version != submitted_version or template.status is not templates.Status.PENDING_REVIEW:
        raise Conflict("stale_version", f"the template changed while its card was submitted (Alibaba holds it as "
                                        f"{code}); submit the current version")
    spec = template.spec.model_copy(update={"external_id": code})
    return replace(template, spec=spec, version=template.version + 1, updated_at=clock.iso(now))
