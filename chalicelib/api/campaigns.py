"""Campaigns and sub-campaigns: create, read, edit, delete, list."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.campaigns import service
from chalicelib.schemas import Page
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/campaigns", "POST", role=Role.operator, body=service.CampaignBody, response=service.CampaignOut,
          status=201)
def create_campaign(principal: Principal, body: service.CampaignBody) -> service.CampaignOut:
    """Create a campaign, or with ``parent_id`` a sub-campaign."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/campaigns", "GET", role=Role.viewer, query=service.CampaignsQuery,
          response=Page[service.CampaignOut])
def list_campaigns(principal: Principal, query: service.CampaignsQuery) -> dict[str, Any]:
    """Campaigns in creation order; ?parent_id=, ?name= and ?stage= filter."""
    return service.list_page(workspace_of(principal), query, clock.now())


@endpoint(bp, "/v1/campaigns/{campaign_id}", "GET", role=Role.viewer, response=service.CampaignOut)
def get_campaign(principal: Principal, campaign_id: str) -> service.CampaignOut:
    """A campaign and its stage."""
    return service.get(workspace_of(principal), campaign_id, clock.now())


@endpoint(bp, "/v1/campaigns/{campaign_id}", "PUT", role=Role.operator, body=service.CampaignEdit,
          response=service.CampaignOut)
def put_campaign(principal: Principal, campaign_id: str, body: service.CampaignEdit) -> service.CampaignOut:
    """Edit a campaign (all fields; ``version`` guards against overwriting an unseen edit)."""
    return service.update(workspace_of(principal), campaign_id, body, clock.now())


@endpoint(bp, "/v1/campaigns/{campaign_id}", "DELETE", role=Role.operator, status=204)
def delete_campaign(principal: Principal, campaign_id: str) -> None:
    """Delete a campaign and its sub-campaigns; 409 while any of them is running."""
    service.delete(workspace_of(principal), campaign_id, clock.now())
