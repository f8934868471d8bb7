"""Audiences: create from a rule source (built as a snapshot), read, members, refresh."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.audiences import exports, service
from chalicelib.schemas import Page
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/audiences", "POST", role=Role.operator, body=service.AudienceCreate, response=service.Audience,
          status=202)
def create_audience(principal: Principal, body: service.AudienceCreate) -> service.Audience:
    """Create an audience; its snapshot builds (status building, then ready with its size, or failed)."""
    return service.create(principal, workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/audiences/estimate", "POST", role=Role.operator, body=service.EstimateRequest,
          response=service.Estimate)
def estimate_audience(principal: Principal, body: service.EstimateRequest) -> service.Estimate:
    """The size a source would have now, without a snapshot (exact, or scaled from a random sample)."""
    return service.estimate(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/audiences/{audience_id}", "GET", role=Role.viewer, response=service.Audience)
def get_audience(principal: Principal, audience_id: str) -> service.Audience:
    """An audience, the snapshot in use and any refresh under way."""
    return service.get(principal, workspace_of(principal), audience_id)


@endpoint(bp, "/v1/audiences/{audience_id}/members", "GET", role=Role.viewer, query=service.MembersQuery,
          response=service.Members)
def audience_members(principal: Principal, audience_id: str, query: service.MembersQuery) -> service.Members:
    """The user ids of the snapshot in use, in order, paged."""
    return service.members(principal, workspace_of(principal), audience_id, query)


@endpoint(bp, "/v1/audiences/{audience_id}/refresh", "POST", role=Role.operator, response=service.Audience,
          status=202)
def refresh_audience(principal: Principal, audience_id: str) -> service.Audience:
    """Build a new snapshot; readers keep the one they started with until it is ready."""
    return service.refresh(principal, workspace_of(principal), audience_id, clock.now())


@endpoint(bp, "/v1/audiences", "GET", role=Role.viewer, query=service.AudiencesQuery, response=Page[service.Audience])
def list_audiences(principal: Principal, query: service.AudiencesQuery) -> dict[str, Any]:
    """Audiences oldest first; ?name= (part of the name), ?type= and ?status= filter."""
    return service.list_page(principal, workspace_of(principal), query)


@endpoint(bp, "/v1/audiences/{audience_id}", "DELETE", role=Role.operator, status=204)
def delete_audience(principal: Principal, audience_id: str) -> None:
    """Delete an audience (its snapshots expire after the grace period)."""
    service.delete(principal, workspace_of(principal), audience_id, clock.now())


@endpoint(bp, "/v1/audiences/{audience_id}/upload-url", "POST", role=Role.operator, response=service.UploadUrl)
def audience_upload_url(principal: Principal, audience_id: str) -> service.UploadUrl:
    """A presigned S3 PUT (text/csv, one hour) for an upload audience's id list."""
    return service.upload_url(principal, workspace_of(principal), audience_id, clock.now())


@endpoint(bp, "/v1/audiences/{audience_id}/build", "POST", role=Role.operator, response=service.Audience, status=202)
def build_audience(principal: Principal, audience_id: str) -> service.Audience:
    """Build a snapshot now: an upload audience reads its newest uploaded file."""
    return service.build(principal, workspace_of(principal), audience_id, clock.now())


@endpoint(bp, "/v1/workspace/audience-key", "PUT", role=Role.admin, body=service.AudienceKeySet,
          response=service.AudienceKey)
def set_audience_key(principal: Principal, body: service.AudienceKeySet) -> service.AudienceKey:
    """Set or rotate the AES-256 key of encrypted id lists; a given key is never returned."""
    return service.set_audience_key(workspace_of(principal), body)


@endpoint(bp, "/v1/audiences/{audience_id}/exports", "POST", role=Role.operator, body=exports.ExportCreate,
          response=exports.Export, status=202)
def create_export(principal: Principal, audience_id: str, body: exports.ExportCreate) -> exports.Export:
    """Export the members of the snapshot in use to S3 (CSV), a signed webhook or a Kafka topic."""
    audience = service.visible(principal, workspace_of(principal), audience_id)
    return exports.create(audience, body, clock.now())


@endpoint(bp, "/v1/audiences/{audience_id}/exports/{export_id}", "GET", role=Role.viewer, response=exports.Export)
def get_export(principal: Principal, audience_id: str, export_id: str) -> exports.Export:
    """An export's status (running, done or failed), rows delivered, and for S3 a download link."""
    return exports.get(service.visible(principal, workspace_of(principal), audience_id), export_id)
