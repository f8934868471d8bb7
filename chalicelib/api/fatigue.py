"""Fatigue rules per channel: a cap per calendar period and quiet hours (admin writes)."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.schemas import Page
from chalicelib.sending import fatigue_rules as rules
from chalicelib.sending.fatigue_rules import FatigueRuleOut, FatigueRulePut
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/fatigue-rules/{channel}", "PUT", role=Role.admin, body=FatigueRulePut, response=FatigueRuleOut)
def put_fatigue_rule(principal: Principal, channel: str, body: FatigueRulePut) -> FatigueRuleOut:
    """Set (replace) the fatigue rule of a channel."""
    return rules.put(workspace_of(principal), channel, body, clock.now())


@endpoint(bp, "/v1/fatigue-rules", "GET", role=Role.viewer, response=Page[FatigueRuleOut])
def list_fatigue_rules(principal: Principal) -> dict[str, Any]:
    """The workspace's fatigue rules, one per channel at most."""
    return rules.list_all(workspace_of(principal))


@endpoint(bp, "/v1/fatigue-rules/{channel}", "GET", role=Role.viewer, response=FatigueRuleOut)
def get_fatigue_rule(principal: Principal, channel: str) -> FatigueRuleOut:
    """The fatigue rule of a channel."""
    return rules.get(workspace_of(principal), channel)


@endpoint(bp, "/v1/fatigue-rules/{channel}", "DELETE", role=Role.admin, status=204)
def delete_fatigue_rule(principal: Principal, channel: str) -> None:
    """Remove a channel's fatigue rule: its messages are no longer capped or held."""
    rules.delete(workspace_of(principal), channel)
