"""Templates' storage (the channels table), as plain ``templates.Template`` in and out.

Every write is conditioned on what its writer read (version and status), so an edit and a
review, or two reviews, racing each other cannot both win: the loser re-reads (409 from
the domain if the template moved on)."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import dynamo
from chalicelib.models.base import plain
from chalicelib.models.channels import TEMPLATE_PREFIX, TemplateItem
from chalicelib.sending import content
from chalicelib.sending.templates import Status, Template


def _template(item: TemplateItem) -> Template:
    return Template(
        id=item.sk[len(TEMPLATE_PREFIX):], spec=content.parse(plain(item.spec)), status=Status(item.status),
        version=int(item.version), created_at=item.created_at, updated_at=item.updated_at, reason=item.reason,
        reviewed_at=item.reviewed_at,
    )


def get(workspace_id: str, template_id: str) -> Template | None:
    try:
        return _template(TemplateItem.get(workspace_id, TEMPLATE_PREFIX + template_id, consistent_read=True))
    except DoesNotExist:
        return None


def put(workspace_id: str, template: Template, read: Template | None) -> bool:
    """Store the template if it is still as read (``read`` None: still absent); False when
    another writer got there first."""
    if read is None:
        condition = TemplateItem.pk.does_not_exist()
    else:
        condition = (TemplateItem.version == read.version) & (TemplateItem.status == read.status.value)
    item = TemplateItem(
        pk=workspace_id, sk=TEMPLATE_PREFIX + template.id, channel=template.spec.channel, name=template.spec.name,
        spec=template.spec.model_dump(mode="json", exclude_none=True), status=template.status.value,
        version=template.version, reason=template.reason, created_at=template.created_at,
        updated_at=template.updated_at, reviewed_at=template.reviewed_at,
    )
    return dynamo.save_if(item, condition)


def delete(workspace_id: str, template_id: str) -> bool:
    return dynamo.delete_if(TemplateItem(workspace_id, TEMPLATE_PREFIX + template_id), TemplateItem.pk.exists())


def page(workspace_id: str, *, channel: str | None, status: str | None, limit: int,
         start: dict[str, Any] | None) -> tuple[list[Template], dict[str, Any] | None]:
    """Templates in creation order: Query (ws, begins_with(sk, "template#")), filtered."""
    condition = None
    if channel:
        condition = TemplateItem.channel == channel
    if status:
        condition = (TemplateItem.status == status) if condition is None else condition & (TemplateItem.status == status)
    result = TemplateItem.query(workspace_id, TemplateItem.sk.startswith(TEMPLATE_PREFIX), filter_condition=condition,
                                limit=limit, last_evaluated_key=start)
    return [_template(i) for i in result], result.last_evaluated_key
