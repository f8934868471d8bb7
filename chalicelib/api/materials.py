"""The material library: presigned upload, the check after upload, list, read, delete."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.materials import service
from chalicelib.materials.service import MaterialIn, MaterialOut, MaterialsQuery
from chalicelib.schemas import Page
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/materials", "POST", role=Role.operator, body=MaterialIn, response=MaterialOut, status=201)
def create_material(principal: Principal, body: MaterialIn) -> MaterialOut:
    """A material (status uploading) and the presigned PUT for its file; type and size are checked per kind."""
    return service.create(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/materials/{material_id}/complete", "POST", role=Role.operator, response=MaterialOut)
def complete_material(principal: Principal, material_id: str) -> MaterialOut:
    """Check the uploaded file (size, type; Lottie JSON): ready, or rejected with the reason."""
    return service.complete(workspace_of(principal), material_id, clock.now())


@endpoint(bp, "/v1/materials", "GET", role=Role.viewer, query=MaterialsQuery, response=Page[MaterialOut])
def list_materials(principal: Principal, query: MaterialsQuery) -> dict[str, Any]:
    """The material library in upload order; ?kind= and ?status= filter."""
    return service.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/materials/{material_id}", "GET", role=Role.viewer, response=MaterialOut)
def get_material(principal: Principal, material_id: str) -> MaterialOut:
    """A material, with a presigned download URL once ready."""
    return service.get(workspace_of(principal), material_id)


@endpoint(bp, "/v1/materials/{material_id}", "DELETE", role=Role.operator, status=204)
def delete_material(principal: Principal, material_id: str) -> None:
    """Delete a material and its file (409 in_use while an approved template names it)."""
    service.delete(workspace_of(principal), material_id)
