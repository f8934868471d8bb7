"""Templates through the API: create, read, edit, review, preview, list, delete.

Each operation reads what it needs, decides with the pure functions of ``templates``
(review rules, checks, rendering) and writes conditioned on what it read; a lost race
reads again and decides again.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from chalicelib import dynamo, ids, pagination
from chalicelib.errors import Conflict, Invalid, NotFound, Unavailable
from chalicelib.materials import service as materials
from chalicelib.profiles import profiles
from chalicelib.profiles.schemas import CHANNELS
from chalicelib.schemas import PageQuery, Request, Response, StorableMap
from chalicelib.sending import content, repo_providers, repo_templates, review, templates
from chalicelib.sending.content import TemplateSpec
from chalicelib.sending.templates import Template

MAX_TRIES = 5


class TemplateOut(Response):
    """A template: its fields as created (flat, by channel) and its review state."""

    id: str
    channel: str
    name: str
    status: templates.Status
    version: int
    reason: str | None = None
    created_at: str
    updated_at: str
    reviewed_at: str | None = None


class TemplatesQuery(PageQuery):
    channel: str | None = Field(None, max_length=32)
    status: templates.Status | None = None


ApproveQuery = review.ApproveQuery
Rejection = review.Rejection


class PreviewRequest(Request):
    user_id: str = Field(min_length=1, max_length=128)
    event: StorableMap | None = Field(None, description="properties of a trigger event, as templates see `event`")


class Preview(Response):
    rendered: dict[str, Any] | None = Field(description="the message for this profile, or null when it fails")
    errors: list[dict[str, str]] = Field(description="why it fails for this profile: [{field, message}]")


def to_api(template: Template) -> TemplateOut:
    return TemplateOut(
        **template.spec.model_dump(mode="json", exclude_none=True),
        id=template.id, status=template.status, version=template.version, reason=template.reason,
        created_at=template.created_at, updated_at=template.updated_at, reviewed_at=template.reviewed_at,
    )


def create(workspace_id: str, spec: TemplateSpec, now: datetime) -> TemplateOut:
    """A new template, pending review (400 with each problem check finds)."""
    _check_media(workspace_id, spec)
    template = templates.new(ids.ordered_id("tpl", now), spec, now)
    if not repo_templates.put(workspace_id, template, None):
        raise Unavailable("a template with this id appeared meanwhile; try again")
    return to_api(template)


def _current(workspace_id: str, template_id: str) -> Template:
    found = repo_templates.get(workspace_id, template_id)
    if found is None:
        raise NotFound(f"no template {template_id}")
    return found


def get(workspace_id: str, template_id: str) -> TemplateOut:
    return to_api(_current(workspace_id, template_id))


def _change(workspace_id: str, template_id: str, decide: Any) -> TemplateOut:
    """Read, decide (a pure step that may raise), write conditioned on what was read."""
    return to_api(dynamo.read_decide_write(
        lambda: _current(workspace_id, template_id), decide,
        lambda changed, current: changed == current or repo_templates.put(workspace_id, changed, current),
        busy=f"template {template_id}", tries=MAX_TRIES))


def update(workspace_id: str, template_id: str, spec: TemplateSpec, now: datetime) -> TemplateOut:
    """Replace the template's content: a new version, back to pending review."""
    _check_media(workspace_id, spec)
    return _change(workspace_id, template_id, lambda t: templates.edit(t, spec, now))


def approve(workspace_id: str, template_id: str, version: int | None, now: datetime) -> TemplateOut:
    media = getattr(_current(workspace_id, template_id).spec, "media", None) or []
    problems = materials.media_problems(workspace_id, media)
    if problems:
        raise Conflict("media_not_ready", "; ".join(f"{e.field}: {e.message}" for e in problems))
    approved = _change(workspace_id, template_id, lambda t: templates.approve(t, now, version=version))
    from chalicelib.tasks import service as tasks  # instant tasks waiting for this approval start now

    tasks.on_template_approved(workspace_id, template_id, now)
    return approved


def reject(workspace_id: str, template_id: str, rejection: Rejection, now: datetime) -> TemplateOut:
    return _change(workspace_id, template_id,
                   lambda t: templates.reject(t, rejection.reason, now, version=rejection.version))


def _check_media(workspace_id: str, spec: TemplateSpec) -> None:
    """The materials a template names must exist and be ready (400 naming each)."""
    problems = materials.media_problems(workspace_id, getattr(spec, "media", None) or [])
    if problems:
        raise Invalid(errors=problems)


def delete(workspace_id: str, template_id: str) -> None:
    if not repo_templates.delete(workspace_id, template_id):
        raise NotFound(f"no template {template_id}")


def list_page(workspace_id: str, query: TemplatesQuery) -> dict[str, Any]:
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    found, last = repo_templates.page(workspace_id, channel=query.channel,
                                      status=query.status.value if query.status else None,
                                      limit=query.limit, start=start)
    return {"items": [to_api(t) for t in found], "next_cursor": pagination.encode(last)}


PREVIEW_UNSUBSCRIBE_URL = "https://example.invalid/u/preview"


def preview(workspace_id: str, template_id: str, request: PreviewRequest) -> Preview:
    """The template rendered for one stored profile (no short links are made: URLs show
    as written; ``message.unsubscribe_url`` is a placeholder that unsubscribes nobody), or
    the reasons it would fail for that profile."""
    template = _current(workspace_id, template_id)
    profile = profiles.get(workspace_id, request.user_id)
    channels = {c: getattr(profile, c) for c in CHANNELS}
    recipient = templates.Recipient(
        profile=templates.profile_data(profile.user_id, profile.attributes, channels, profile.tags),
        event=request.event, message={"template_id": template_id, "unsubscribe_url": PREVIEW_UNSUBSCRIBE_URL},
    )
    try:
        return Preview(rendered=templates.render(template.spec, recipient), errors=[])
    except templates.RenderFailed as failed:
        return Preview(rendered=None, errors=[{"field": e.field, "message": e.message} for e in failed.errors])


def parse_spec(data: Any) -> TemplateSpec:
    return content.parse(data)


PROVIDER_REVIEWED = ("aliyun_sms", "aliyun_card_sms")  # kinds whose provider reviews templates itself


def sync_review(workspace_id: str, template_id: str, now: datetime) -> TemplateOut:
    """Ask the template's provider for its own review verdict (Alibaba Cloud reviews
    TemplateCodes and signatures) and approve or reject a template pending review by it."""
    from chalicelib.providers import aliyun_sms
    from chalicelib.providers.base import ProviderConfig, build

    template = _current(workspace_id, template_id)
    name = template.spec.provider
    if not name:
        raise Invalid("provider", "the template names no provider; only a provider that reviews templates "
                                  "(Alibaba Cloud SMS) can be asked")
    account = repo_providers.get(workspace_id, name)
    if account is None:
        raise Invalid("provider", f"no provider account {name} in this workspace")
    if account.kind not in PROVIDER_REVIEWED:
        raise Conflict("not_provider_reviewed", f"{account.kind} providers do not review templates; review it here")
    settings = {**account.settings, **({"endpoint": account.endpoint} if account.endpoint else {})}
    provider = build(ProviderConfig(workspace_id, name, account.kind, account.channel, settings))
    try:
        if account.kind == "aliyun_card_sms":
            from chalicelib.providers import aliyun_card_template

            if not getattr(template.spec, "external_id", None):
                raise Conflict("not_submitted", "the card is not at Alibaba Cloud yet: submit it with "
                                                f"POST /v1/templates/{template_id}/card-template first")
            review = aliyun_card_template.sync_review(provider, template)
        else:
            review = aliyun_sms.sync_review(provider, template)
    except aliyun_sms.ReviewUnavailable as error:
        raise Unavailable(f"the provider could not be asked: {error}", retry_after=30) from None
    return _change(workspace_id, template_id, lambda t: aliyun_sms.apply_provider_review(t, review, now))
