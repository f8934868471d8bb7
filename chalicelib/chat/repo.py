"""Chat campaigns' storage (the campaigns table, ``chat#<id>``), plain objects in and out;
every change conditioned on the version read."""
from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import dynamo
from chalicelib.chat.campaigns import ChatCampaign, Plan, Status
from chalicelib.models.campaigns import CHAT_PREFIX, ChatCampaignItem


def _chat(item: ChatCampaignItem) -> ChatCampaign:
    return ChatCampaign(
        id=item.sk[len(CHAT_PREFIX):], name=item.name, description=item.description, journey_id=item.journey_id,
        audience_id=item.audience_id, start_at=item.start_at, end_at=item.end_at,
        plan=Plan(int(item.plan_every), item.plan_unit), stored_status=Status(item.status),
        version=int(item.version), created_at=item.created_at, updated_at=item.updated_at)


def _item(workspace_id: str, c: ChatCampaign) -> ChatCampaignItem:
    return ChatCampaignItem(
        pk=workspace_id, sk=CHAT_PREFIX + c.id, name=c.name, description=c.description, journey_id=c.journey_id,
        audience_id=c.audience_id, start_at=c.start_at, end_at=c.end_at, plan_every=c.plan.every,
        plan_unit=c.plan.unit, status=c.stored_status.value, version=c.version, created_at=c.created_at,
        updated_at=c.updated_at)


def get(workspace_id: str, chat_id: str) -> ChatCampaign | None:
    try:
        return _chat(ChatCampaignItem.get(workspace_id, CHAT_PREFIX + chat_id, consistent_read=True))
    except DoesNotExist:
        return None


def put(workspace_id: str, c: ChatCampaign, read: ChatCampaign | None) -> bool:
    condition = (ChatCampaignItem.pk.does_not_exist() if read is None
                 else ChatCampaignItem.version == read.version)
    return dynamo.save_if(_item(workspace_id, c), condition)


def delete(workspace_id: str, read: ChatCampaign) -> bool:
    return dynamo.delete_if(ChatCampaignItem(workspace_id, CHAT_PREFIX + read.id),
                            ChatCampaignItem.version == read.version)


def page(workspace_id: str, *, journey_id: str | None, audience_id: str | None, limit: int,
         start: dict[str, Any] | None) -> tuple[list[ChatCampaign], dict[str, Any] | None]:
    condition = None
    for attribute, value in ((ChatCampaignItem.journey_id, journey_id), (ChatCampaignItem.audience_id, audience_id)):
        if value:
            condition = (attribute == value) if condition is None else condition & (attribute == value)
    result = ChatCampaignItem.query(workspace_id, ChatCampaignItem.sk.startswith(CHAT_PREFIX),
                                    filter_condition=condition, limit=limit, last_evaluated_key=start)
    return [_chat(i) for i in result], result.last_evaluated_key
