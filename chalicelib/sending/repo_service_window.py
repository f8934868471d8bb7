"""Storage of the customer-service window: one item per (workspace, channel, address)
in the messages table, expiring by TTL a day after its window closes.

Item: pk = "<ws>#csw#<channel>#<address>", sk = "csw", kind ``service_window``,
``last_inbound_at`` (unix seconds, number), ``expires_at`` (TTL). ``touch`` only moves
``last_inbound_at`` forward, so receipts handled out of order never shorten a window.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timezone

from botocore.exceptions import ClientError

from chalicelib import aws, dynamo
from chalicelib.config import settings
from chalicelib.sending import service_window

SK = "csw"


def window_pk(workspace_id: str, channel: str, address: str) -> str:
    return f"{workspace_id}#csw#{channel}#{address}"


def touch(workspace_id: str, channel: str, address: str, at: datetime) -> bool:
    """Record that ``address`` wrote to us on ``channel`` at ``at`` (an InboundMessage).
    Returns False when a later message is already recorded (nothing changed)."""
    stamp = int(at.timestamp())
    try:
        aws.dynamodb().update_item(
            TableName=settings.table("messages"),
            Key=dynamo.key(window_pk(workspace_id, channel, address), SK),
            UpdateExpression="SET #kind = :kind, last_inbound_at = :at, expires_at = :expires",
            ConditionExpression="attribute_not_exists(last_inbound_at) OR last_inbound_at < :at",
            ExpressionAttributeNames={"#kind": "kind"},
            ExpressionAttributeValues={
                ":kind": {"S": "service_window"}, ":at": {"N": str(stamp)},
                ":expires": {"N": str(service_window.expires_at(channel, at))},
            },
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def last_inbound(workspace_id: str, channel: str, addresses: Iterable[str]) -> dict[str, datetime]:
    """The last inbound time of each address that has one (one BatchGetItem per 100)."""
    wanted = sorted({a for a in addresses if a})
    if not wanted:
        return {}
    table = settings.table("messages")
    found = dynamo.batch_get({table: [dynamo.key(window_pk(workspace_id, channel, a), SK) for a in wanted]},
                             projection={table: "pk, last_inbound_at"})
    prefix = window_pk(workspace_id, channel, "")
    out: dict[str, datetime] = {}
    for item in found[table]:
        address = item["pk"]["S"][len(prefix):]
        out[address] = datetime.fromtimestamp(int(item["last_inbound_at"]["N"]), tz=timezone.utc)
    return out


def open_until(workspace_id: str, channel: str, addresses: Iterable[str]) -> dict[str, datetime]:
    """When each address's window closes (addresses that never wrote are absent)."""
    out = {}
    for address, last in last_inbound(workspace_id, channel, addresses).items():
        until = service_window.open_until(channel, last)
        if until is not None:
            out[address] = until
    return out
