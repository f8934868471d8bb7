"""Message templates: create, edit, review (admin), preview, list, delete."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint
from pydantic import RootModel

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.schemas import Page
from chalicelib.sending import card_templates
from chalicelib.sending import template_service as service
from chalicelib.sending.content import TemplateSpec
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


class TemplateBody(RootModel[TemplateSpec]):
    """A template as the API takes it: flat, discriminated by ``channel``."""


@endpoint(bp, "/v1/templates", "POST", role=Role.operator, body=TemplateBody, body_parser=service.parse_spec,
          response=service.TemplateOut, status=201)
def create_template(principal: Principal, body: TemplateSpec) -> service.TemplateOut:
    """Create a template; it waits for review (pending_review) before anything sends it."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/templates", "GET", role=Role.viewer, query=service.TemplatesQuery, response=Page[service.TemplateOut])
def list_templates(principal: Principal, query: service.TemplatesQuery) -> dict[str, Any]:
    """Templates in creation order; ?channel= and ?status= filter."""
    return service.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/templates/{template_id}", "GET", role=Role.viewer, response=service.TemplateOut)
def get_template(principal: Principal, template_id: str) -> service.TemplateOut:
    """A template and its review state."""
    return service.get(workspace_of(principal), template_id)


@endpoint(bp, "/v1/templates/{template_id}", "PUT", role=Role.operator, body=TemplateBody,
          body_parser=service.parse_spec, response=service.TemplateOut)
def put_template(principal: Principal, template_id: str, body: TemplateSpec) -> service.TemplateOut:
    """Edit a template: a new version, back to pending review (the channel cannot change)."""
    return service.update(workspace_of(principal), template_id, body, clock.now())


@endpoint(bp, "/v1/templates/{template_id}", "DELETE", role=Role.operator, status=204)
def delete_template(principal: Principal, template_id: str) -> None:
    """Delete a template."""
    service.delete(workspace_of(principal), template_id)


@endpoint(bp, "/v1/templates/{template_id}/approve", "POST", role=Role.admin, query=service.ApproveQuery,
          response=service.TemplateOut)
def approve_template(principal: Principal, template_id: str, query: service.ApproveQuery) -> service.TemplateOut:
    """Approve a template pending review (?version= guards against approving an unseen edit)."""
    return service.approve(workspace_of(principal), template_id, query.version, clock.now())


@endpoint(bp, "/v1/templates/{template_id}/reject", "POST", role=Role.admin, body=service.Rejection,
          response=service.TemplateOut)
def reject_template(principal: Principal, template_id: str, body: service.Rejection) -> service.TemplateOut:
    """Reject a template pending review, with the reason."""
    return service.reject(workspace_of(principal), template_id, body, clock.now())


@endpoint(bp, "/v1/templates/{template_id}/preview", "POST", role=Role.operator, body=service.PreviewRequest,
          response=service.Preview)
def preview_template(principal: Principal, template_id: str, body: service.PreviewRequest) -> service.Preview:
    """Render the template for a stored profile, or say why it fails for that profile."""
    return service.preview(workspace_of(principal), template_id, body)


@endpoint(bp, "/v1/templates/{template_id}/sync-review", "POST", role=Role.admin, response=service.TemplateOut)
def sync_template_review(principal: Principal, template_id: str) -> service.TemplateOut:
    """Take the provider's own review verdict (Alibaba Cloud SMS TemplateCode and signature)."""
    return service.sync_review(workspace_of(principal), template_id, clock.now())


@endpoint(bp, "/v1/templates/{template_id}/card-template", "POST", role=Role.operator,
          body=card_templates.CardSubmission, response=service.TemplateOut)
def submit_card_template(principal: Principal, template_id: str,
                         body: card_templates.CardSubmission) -> service.TemplateOut:
    """Create the SMS template's card at Alibaba Cloud (card SMS) from its body and media;
    the card's TemplateCode becomes its external_id, and sync-review takes the vendors' verdict."""
    return card_templates.submit(workspace_of(principal), template_id, body, clock.now())
