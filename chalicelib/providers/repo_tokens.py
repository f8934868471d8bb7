"""Storage of providers' short-lived access tokens (WeChat's), shared by every invocation:
one item per provider in the messages table.

Item: pk = "<ws>#ptoken#<provider name>", sk = "token", kind ``provider_token``,
``token``, ``token_expires_at`` (unix seconds: when to stop using it), ``lease_until``
(unix seconds: someone is fetching a new token until then) and ``expires_at`` (TTL, a day
after the token expires). The lease is taken with a conditional write, so of several
invocations finding no usable token, one fetches and the others wait for its write.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib import aws, dynamo
from chalicelib.config import settings

SK = "token"
KEEP_SECONDS = 86_400


@dataclass(frozen=True)
class Stored:
    token: str | None
    expires_at: int           # unix seconds; 0 when there is no token
    lease_until: int          # unix seconds; 0 when nobody holds the lease


def token_pk(workspace_id: str, provider: str) -> str:
    return f"{workspace_id}#ptoken#{provider}"


def read(workspace_id: str, provider: str) -> Stored:
    item = aws.dynamodb().get_item(TableName=settings.table("messages"), Key=dynamo.key(token_pk(workspace_id, provider), SK),
                                   ConsistentRead=True).get("Item", {})
    return Stored(token=item.get("token", {}).get("S"), expires_at=int(item.get("token_expires_at", {}).get("N", 0)),
                  lease_until=int(item.get("lease_until", {}).get("N", 0)))


def take_lease(workspace_id: str, provider: str, now: int, seconds: int, unless_token_is_not: str | None,
               usable_until: int | None = None) -> str | None:
    """Take the right to fetch a new token for ``seconds``; None when another invocation
    holds it, or when the stored token is no longer ``unless_token_is_not`` (someone
    already replaced the token being refreshed), or, when there is no token to replace,
    when a token valid beyond ``usable_until`` (default ``now``) is already stored."""
    owner = uuid.uuid4().hex
    condition = "(attribute_not_exists(lease_until) OR lease_until < :now)"
    values = {":now": {"N": str(now)}, ":until": {"N": str(now + seconds)}, ":owner": {"S": owner},
              ":kind": {"S": "provider_token"}}
    if unless_token_is_not is None:
        condition += " AND (attribute_not_exists(#token) OR token_expires_at <= :usable)"
        values[":usable"] = {"N": str(usable_until if usable_until is not None else now)}
    else:
        condition += " AND (attribute_not_exists(#token) OR #token = :stale)"
        values[":stale"] = {"S": unless_token_is_not}
    try:
        aws.dynamodb().update_item(
            TableName=settings.table("messages"), Key=dynamo.key(token_pk(workspace_id, provider), SK),
            UpdateExpression="SET #kind = :kind, lease_until = :until, lease_owner = :owner",
            ConditionExpression=condition, ExpressionAttributeNames={"#kind": "kind", "#token": "token"},
            ExpressionAttributeValues=values,
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return None
        raise
    return owner


def store(workspace_id: str, provider: str, token: str, expires_at: int) -> None:
    """Keep a fresh token and free the lease."""
    aws.dynamodb().put_item(TableName=settings.table("messages"), Item={
        **dynamo.key(token_pk(workspace_id, provider), SK), "kind": {"S": "provider_token"}, "token": {"S": token},
        "token_expires_at": {"N": str(expires_at)}, "expires_at": {"N": str(expires_at + KEEP_SECONDS)},
    })


def release(workspace_id: str, provider: str, owner: str) -> None:
    """Give the lease back after a failed fetch (only if still ours)."""
    try:
        aws.dynamodb().update_item(
            TableName=settings.table("messages"), Key=dynamo.key(token_pk(workspace_id, provider), SK),
            UpdateExpression="REMOVE lease_until, lease_owner", ConditionExpression="lease_owner = :owner",
            ExpressionAttributeValues={":owner": {"S": owner}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
