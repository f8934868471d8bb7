"""Analytics of tasks, journeys and campaigns: counts, rates, cost and a daily series."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.analytics import service
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/analytics/tasks/{task_id}", "GET", role=Role.viewer, query=service.ConversionQuery,
          response=service.Analytics)
def task_analytics(principal: Principal, task_id: str, query: service.ConversionQuery) -> dict[str, Any]:
    """A task's counters, rates, daily series (workspace time zone) and, with ?goal=, conversions."""
    return service.task(workspace_of(principal), task_id, query, clock.now())


@endpoint(bp, "/v1/analytics/journeys/{journey_id}", "GET", role=Role.viewer, query=service.AnalyticsQuery,
          response=service.JourneyAnalytics)
def journey_analytics(principal: Principal, journey_id: str, query: service.AnalyticsQuery) -> dict[str, Any]:
    """A journey's counters summed over its nodes, each node's, and the daily series."""
    return service.journey(workspace_of(principal), journey_id, query, clock.now())


@endpoint(bp, "/v1/analytics/campaigns/{campaign_id}", "GET", role=Role.viewer, query=service.ConversionQuery,
          response=service.CampaignAnalytics)
def campaign_analytics(principal: Principal, campaign_id: str, query: service.ConversionQuery) -> dict[str, Any]:
    """A campaign's counters with its sub-campaigns' rolled up, each campaign's, the daily series and conversions."""
    return service.campaign(workspace_of(principal), campaign_id, query, clock.now())
