"""Materials' storage: the channels table, sk "material#<id>" (ids are time-ordered, so a
Query lists them in upload order). A status change is conditioned on the status read."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import dynamo
from chalicelib.config import settings
from chalicelib.materials.rules import Kind, Status
from chalicelib.models.base import plain
from chalicelib.models.channels import MATERIAL_PREFIX, TEMPLATE_PREFIX, MaterialItem, TemplateItem


@dataclass(frozen=True)
class Material:
    id: str
    kind: Kind
    filename: str
    content_type: str
    size: int
    object_key: str
    status: Status
    created_at: str
    updated_at: str
    reason: str | None = None


def _material(item: MaterialItem) -> Material:
    return Material(id=item.sk[len(MATERIAL_PREFIX):], kind=Kind(item.material_kind), filename=item.filename,
                    content_type=item.content_type, size=int(item.size), object_key=item.object_key,
                    status=Status(item.status), created_at=item.created_at, updated_at=item.updated_at,
                    reason=item.reason)


def _item(workspace_id: str, material: Material) -> MaterialItem:
    return MaterialItem(pk=workspace_id, sk=MATERIAL_PREFIX + material.id, material_kind=material.kind.value,
                        filename=material.filename, content_type=material.content_type, size=material.size,
                        object_key=material.object_key, status=material.status.value, reason=material.reason,
                        created_at=material.created_at, updated_at=material.updated_at)


def get(workspace_id: str, material_id: str) -> Material | None:
    try:
        return _material(MaterialItem.get(workspace_id, MATERIAL_PREFIX + material_id, consistent_read=True))
    except DoesNotExist:
        return None


def get_many(workspace_id: str, material_ids: Iterable[str]) -> dict[str, Material]:
    """One BatchGetItem (the template checks)."""
    keys = [dynamo.key(workspace_id, MATERIAL_PREFIX + i) for i in sorted(set(material_ids))]
    if not keys:
        return {}
    table = settings.table("channels")
    found = [MaterialItem.from_raw_data(raw) for raw in dynamo.batch_get({table: keys})[table]
             if raw.get("kind", {}).get("S") == "material"]
    return {m.id: m for m in map(_material, found)}


def put_new(workspace_id: str, material: Material) -> bool:
    return dynamo.save_if(_item(workspace_id, material), MaterialItem.pk.does_not_exist())


def put_if_status(workspace_id: str, material: Material, read: Status) -> bool:
    """Store the changed material if it is still in the status read."""
    return dynamo.save_if(_item(workspace_id, material), MaterialItem.status == read.value)


def delete(workspace_id: str, material_id: str) -> bool:
    return dynamo.delete_if(MaterialItem(workspace_id, MATERIAL_PREFIX + material_id), MaterialItem.pk.exists())


def page(workspace_id: str, *, kind: str | None, status: str | None, limit: int,
         start: dict[str, Any] | None) -> tuple[list[Material], dict[str, Any] | None]:
    """Materials in upload order: Query (ws, begins_with(sk, "material#")), filtered."""
    condition = None
    if kind:
        condition = MaterialItem.material_kind == kind
    if status:
        condition = (MaterialItem.status == status) if condition is None else condition & (MaterialItem.status == status)
    result = MaterialItem.query(workspace_id, MaterialItem.sk.startswith(MATERIAL_PREFIX), filter_condition=condition,
                                limit=limit, last_evaluated_key=start)
    return [_material(i) for i in result], result.last_evaluated_key


def approved_templates_using(workspace_id: str, material_id: str) -> list[str]:
    """Ids of the approved templates whose ``media`` names the material: Query the
    workspace's templates, filtered to approved ones (the templates are read, not written)."""
    result = TemplateItem.query(workspace_id, TemplateItem.sk.startswith(TEMPLATE_PREFIX),
                                filter_condition=TemplateItem.status == "approved")
    return [item.sk[len(TEMPLATE_PREFIX):] for item in result
            if material_id in (plain(item.spec).get("media") or [])]
