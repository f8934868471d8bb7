"""Short links' storage: the channels table, pk "link#<code>", sk "link" (the public
redirect knows only the code, so the item names its workspace instead of its key).

Making a link is a PutItem conditioned on the code being free; a click is one UpdateItem
that counts it and returns the link as it was (so the first click is known exactly)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError
from pynamodb.exceptions import DoesNotExist

from chalicelib import aws, clock, dynamo
from chalicelib.config import settings
from chalicelib.models.channels import LINK_PREFIX, LINK_SK, ShortLinkItem


@dataclass(frozen=True)
class Link:
    code: str
    workspace_id: str
    url: str
    created_at: str
    user_id: str | None = None
    message_key: str | None = None
    task_id: str | None = None
    journey_id: str | None = None
    node_id: str | None = None
    clicks: int = 0
    first_clicked_at: str | None = None
    last_clicked_at: str | None = None


def _link(item: ShortLinkItem) -> Link:
    return Link(code=item.pk[len(LINK_PREFIX):], workspace_id=item.workspace_id, url=item.url,
                created_at=item.created_at, user_id=item.user_id, message_key=item.message_key,
                task_id=item.task_id, journey_id=item.journey_id, node_id=item.node_id, clicks=int(item.clicks or 0),
                first_clicked_at=item.first_clicked_at, last_clicked_at=item.last_clicked_at)


def get(code: str) -> Link | None:
    try:
        return _link(ShortLinkItem.get(LINK_PREFIX + code, LINK_SK, consistent_read=True))
    except DoesNotExist:
        return None


def put_new(link: Link) -> bool:
    """Store the link if its code is free; False when the code is taken (by this same link
    on a re-render, or by another one)."""
    item = ShortLinkItem(
        pk=LINK_PREFIX + link.code, sk=LINK_SK, workspace_id=link.workspace_id, url=link.url,
        user_id=link.user_id, message_key=link.message_key, task_id=link.task_id, journey_id=link.journey_id,
        node_id=link.node_id, clicks=0, created_at=link.created_at,
    )
    return dynamo.save_if(item, ShortLinkItem.pk.does_not_exist())


def record_click(code: str, now: datetime) -> tuple[Link, bool] | None:
    """Count one click: ADD clicks 1, first_clicked_at set once. Returns the link (with
    the count after this click) and whether it was the first click; None for no such link."""
    at = clock.iso(now)
    try:
        answer = aws.dynamodb().update_item(
            TableName=settings.table("channels"), Key=dynamo.key(LINK_PREFIX + code, LINK_SK),
            UpdateExpression="ADD clicks :one SET last_clicked_at = :at, "
                             "first_clicked_at = if_not_exists(first_clicked_at, :at)",
            ConditionExpression="attribute_exists(pk) AND kind = :kind",
            ExpressionAttributeValues={":one": {"N": "1"}, ":at": {"S": at}, ":kind": {"S": "short_link"}},
            ReturnValues="ALL_OLD",
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    old: dict[str, Any] = answer["Attributes"]
    before = _link(ShortLinkItem.from_raw_data(old))
    first = before.first_clicked_at is None
    after = Link(**{**before.__dict__, "clicks": before.clicks + 1, "last_clicked_at": at,
                    "first_clicked_at": before.first_clicked_at or at})
    return after, first
