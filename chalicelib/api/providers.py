"""Provider accounts (API management): admins set them up; credentials are never returned."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.schemas import Page, PageQuery
from chalicelib.sending import provider_service as service
from chalicelib.sending.providers_config import Provider, ProviderPut
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/providers/{name}", "PUT", role=Role.admin, body=ProviderPut, response=Provider)
def put_provider(principal: Principal, name: str, body: ProviderPut) -> Provider:
    """Create or replace a provider account; credentials go to Secrets Manager, never back out."""
    return service.put(workspace_of(principal), name, body, clock.now())


@endpoint(bp, "/v1/providers", "GET", role=Role.viewer, query=PageQuery, response=Page[Provider])
def list_providers(principal: Principal, query: PageQuery) -> dict[str, Any]:
    """The workspace's provider accounts, by name (which credentials are set, never their values)."""
    return service.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/providers/{name}", "GET", role=Role.viewer, response=Provider)
def get_provider(principal: Principal, name: str) -> Provider:
    """One provider account."""
    return service.get(workspace_of(principal), name)


@endpoint(bp, "/v1/providers/{name}", "DELETE", role=Role.admin, status=204)
def delete_provider(principal: Principal, name: str) -> None:
    """Remove a provider account (its credentials are scheduled for deletion)."""
    service.delete(workspace_of(principal), name)
