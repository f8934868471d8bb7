"""Storage of provider rate-limit windows: one counter item per provider and window, in
the messages table, expiring by TTL. What a window is and what a count grants is
``rate_limit``.

Item: pk = "<ws>#rate#<provider name>#<window start>", sk = "rate", kind ``rate_window``,
``used`` (permits asked for in the window), ``expires_at`` (window end + 1 hour). A new
partition key each window, so no item is hot for longer than its window.
"""
from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib import aws, dynamo
from chalicelib.config import settings
from chalicelib.sending import rate_limit
from chalicelib.sending.rate_limit import Window

SK = "rate"
KEEP_SECONDS = 3600


def window_pk(workspace_id: str, provider: str, window: Window) -> str:
    return f"{workspace_id}#rate#{provider}#{window.start}"


def take(workspace_id: str, provider: str, window: Window, asked: int) -> int:
    """Take up to ``asked`` permits of the window; returns how many were granted (one
    UpdateItem: ``ADD used :asked`` if ``used < :permits``)."""
    if asked <= 0:
        return 0
    try:
        answer = aws.dynamodb().update_item(
            TableName=settings.table("messages"),
            Key=dynamo.key(window_pk(workspace_id, provider, window), SK),
            UpdateExpression="ADD used :asked SET #kind = :kind, expires_at = :expires",
            ConditionExpression="attribute_not_exists(used) OR used < :permits",
            ExpressionAttributeNames={"#kind": "kind"},
            ExpressionAttributeValues={
                ":asked": {"N": str(asked)}, ":permits": {"N": str(window.permits)},
                ":kind": {"S": "rate_window"}, ":expires": {"N": str(window.end + KEEP_SECONDS)},
            },
            ReturnValues="UPDATED_NEW",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return 0  # the window's permits are all taken
        raise
    return rate_limit.granted(asked, int(answer["Attributes"]["used"]["N"]), window.permits)


def used(workspace_id: str, provider: str, window: Window) -> int:
    """Permits asked for in a window (tests, support)."""
    item = aws.dynamodb().get_item(TableName=settings.table("messages"),
                                   Key=dynamo.key(window_pk(workspace_id, provider, window), SK),
                                   ConsistentRead=True).get("Item", {})
    return int(item.get("used", {}).get("N", 0))
