"""SMS signatures: create, read, list, delete, review (admin). A signature is named by itself."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.schemas import Page
from chalicelib.sending import signature_service as service
from chalicelib.sending.review import ApproveQuery, Rejection
from chalicelib.sending.signatures import SignatureIn, SignatureOut, SignaturesQuery
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/sms-signatures", "POST", role=Role.operator, body=SignatureIn, response=SignatureOut, status=201)
def create_sms_signature(principal: Principal, body: SignatureIn) -> SignatureOut:
    """Register an SMS signature; it waits for review (pending_review) before any message carries it."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/sms-signatures", "GET", role=Role.viewer, query=SignaturesQuery, response=Page[SignatureOut])
def list_sms_signatures(principal: Principal, query: SignaturesQuery) -> dict[str, Any]:
    """SMS signatures by name; ?status= filters."""
    return service.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/sms-signatures/{name}", "GET", role=Role.viewer, response=SignatureOut)
def get_sms_signature(principal: Principal, name: str) -> SignatureOut:
    """An SMS signature and its review state."""
    return service.get(workspace_of(principal), name)


@endpoint(bp, "/v1/sms-signatures/{name}", "DELETE", role=Role.operator, status=204)
def delete_sms_signature(principal: Principal, name: str) -> None:
    """Delete an SMS signature (messages carrying it are no longer sent)."""
    service.delete(workspace_of(principal), name)


@endpoint(bp, "/v1/sms-signatures/{name}/approve", "POST", role=Role.admin, query=ApproveQuery, response=SignatureOut)
def approve_sms_signature(principal: Principal, name: str, query: ApproveQuery) -> SignatureOut:
    """Approve a signature pending review (?version= guards against approving an unseen change)."""
    return service.approve(workspace_of(principal), name, query.version, clock.now())


@endpoint(bp, "/v1/sms-signatures/{name}/reject", "POST", role=Role.admin, body=Rejection, response=SignatureOut)
def reject_sms_signature(principal: Principal, name: str, body: Rejection) -> SignatureOut:
    """Reject a signature pending review, with the reason."""
    return service.reject(workspace_of(principal), name, body, clock.now())
