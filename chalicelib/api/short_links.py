"""Short links: make one (``POST /v1/short-links``), read its clicks, and the public
redirect ``GET /s/{code}`` that counts each click."""
from __future__ import annotations

from chalice import Blueprint
from chalice import Response as ChaliceResponse

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.links import service
from chalicelib.links.service import ShortLinkIn, ShortLinkOut
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/short-links", "POST", role=Role.operator, body=ShortLinkIn, response=ShortLinkOut, status=201)
def create_short_link(principal: Principal, body: ShortLinkIn) -> ShortLinkOut:
    """Make a short link to an http or https URL; GET /s/{code} redirects to it and counts the click."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/short-links/{code}", "GET", role=Role.viewer, response=ShortLinkOut)
def get_short_link(principal: Principal, code: str) -> ShortLinkOut:
    """A short link of the workspace and its clicks."""
    return service.get(workspace_of(principal), code)


@endpoint(bp, "/s/{code}", "GET", public=True, status=302)
def follow_short_link(code: str) -> ChaliceResponse:
    """Public: redirect (302) to the link's target and count the click; 404 for an unknown code."""
    target = service.follow(code, clock.now())
    return ChaliceResponse(body="", status_code=302, headers={"Location": target, "Cache-Control": "no-store"})
