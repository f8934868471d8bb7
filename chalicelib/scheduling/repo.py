"""The schedule table: due items by minute bucket and the drain's cursor (raw client calls).

Invariants are conditions: a due item is claimed by one drain at a time (a lease set only
if absent or lapsed), deleted only by the claim that holds it, and the cursor only moves
forward.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, dynamo
from chalicelib.config import settings
from chalicelib.scheduling import buckets

ORPHAN_TTL_SECONDS = 30 * 86_400  # an item no drain removes (its kind unregistered) goes eventually


@dataclass(frozen=True)
class Due:
    """One piece of work due at ``at`` (ISO) in ``bucket``; ``attempts`` failed before."""

    kind: str
    workspace_id: str
    item_id: str
    at: str
    bucket: str
    attempts: int = 0
    claim: int | None = None  # the lease a claim set (epoch seconds)


def _table() -> str:
    return settings.table("schedule")


def put(due: Due, now_epoch: int) -> None:
    """Store (or overwrite: same bucket, kind, workspace and id) a due item."""
    aws.dynamodb().put_item(TableName=_table(), Item={
        **dynamo.key(buckets.due_pk(due.bucket), buckets.work_sk(due.kind, due.workspace_id, due.item_id)),
        "at": {"S": due.at}, "attempts": {"N": str(due.attempts)},
        "expires_at": {"N": str(now_epoch + ORPHAN_TTL_SECONDS)},
    })


def remove(bucket: str, kind: str, workspace_id: str, item_id: str) -> None:
    aws.dynamodb().delete_item(TableName=_table(), Key=dynamo.key(
        buckets.due_pk(bucket), buckets.work_sk(kind, workspace_id, item_id)))


def in_bucket(bucket: str) -> Iterator[Due]:
    """Every item of one minute (strongly consistent Query, paged)."""
    params: dict[str, Any] = {
        "TableName": _table(), "ConsistentRead": True, "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": buckets.due_pk(bucket)}},
    }
    while True:
        answer = aws.dynamodb().query(**params)
        for raw in answer.get("Items", []):
            kind, workspace_id, item_id = buckets.parse_sk(raw["sk"]["S"])
            yield Due(kind, workspace_id, item_id, raw["at"]["S"], bucket, int(raw.get("attempts", {}).get("N", "0")),
                      int(raw["claimed_until"]["N"]) if "claimed_until" in raw else None)
        if "LastEvaluatedKey" not in answer:
            return
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def claim(due: Due, now_epoch: int, lease_seconds: int) -> Due | None:
    """Take the item for ``lease_seconds`` unless another drain holds a live lease (or it
    is gone): the schedule firing twice in a minute starts the work once."""
    lease = now_epoch + lease_seconds
    try:
        aws.dynamodb().update_item(
            TableName=_table(),
            Key=dynamo.key(buckets.due_pk(due.bucket), buckets.work_sk(due.kind, due.workspace_id, due.item_id)),
            UpdateExpression="SET claimed_until = :lease",
            ConditionExpression="attribute_exists(pk) AND (attribute_not_exists(claimed_until) OR claimed_until < :now)",
            ExpressionAttributeValues={":lease": {"N": str(lease)}, ":now": {"N": str(now_epoch)}},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return None
        raise
    return Due(due.kind, due.workspace_id, due.item_id, due.at, due.bucket, due.attempts, lease)


def finish(due: Due) -> bool:
    """Delete a claimed item, if the claim is still ours."""
    try:
        aws.dynamodb().delete_item(
            TableName=_table(),
            Key=dynamo.key(buckets.due_pk(due.bucket), buckets.work_sk(due.kind, due.workspace_id, due.item_id)),
            ConditionExpression="claimed_until = :lease", ExpressionAttributeValues={":lease": {"N": str(due.claim)}},
        )
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise


def cursor() -> str | None:
    """The last minute bucket drained."""
    answer = aws.dynamodb().get_item(TableName=_table(), Key=dynamo.key(buckets.CURSOR_PK, buckets.CURSOR_SK),
                                     ConsistentRead=True)
    item = answer.get("Item")
    return item["bucket"]["S"] if item else None


def advance_cursor(bucket: str) -> bool:
    """Move the cursor forward to ``bucket`` (never back)."""
    try:
        aws.dynamodb().update_item(
            TableName=_table(), Key=dynamo.key(buckets.CURSOR_PK, buckets.CURSOR_SK),
            UpdateExpression="SET #b = :b", ConditionExpression="attribute_not_exists(#b) OR #b < :b",
            ExpressionAttributeNames={"#b": "bucket"}, ExpressionAttributeValues={":b": {"S": bucket}},
        )
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise
