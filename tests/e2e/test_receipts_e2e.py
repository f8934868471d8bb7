"""End to end: a send through the demo sandbox, and its own signed receipts posted back to
the stack's HTTP server when the clock is moved (`make run`'s whole path)."""
from __future__ import annotations

import json

import boto3
import pytest


pytestmark = pytest.mark.e2e


def test_a_sandbox_send_is_delivered_by_its_own_receipts_when_the_clock_moves(stack):
    workspace_id = stack.demo_key.split(".")[1]
    aws = {"endpoint_url": stack.moto_endpoint, "region_name": "us-east-1",
           "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    sqs, dynamodb = boto3.client("sqs", **aws), boto3.client("dynamodb", **aws)
    send = {"type": "send", "workspace_id": workspace_id, "channel": "sms", "provider": {"name": "sandbox-sms"},
            "task_id": "t-e2e", "recipients": [{"user_id": "u-e2e", "to": "+8613800000009",
                                                "content": {"text": "hello"}}]}
    sqs.send_message(QueueUrl=sqs.get_queue_url(QueueName="ma-local-sends")["QueueUrl"],
                     MessageBody=json.dumps(send))

    assert stack.call("POST", "/_local/clock", {"advance_seconds": 0})[0] == 200  # drains: sent
    assert stack.call("POST", "/_local/clock", {"advance_seconds": 120})[0] == 200  # receipts due, posted, applied

    from chalicelib.sending.messages import MessageKey

    key = MessageKey(workspace_id, "u-e2e", task_id="t-e2e")
    item = dynamodb.get_item(TableName="ma-local-messages", Key={"pk": {"S": key.pk}, "sk": {"S": key.sk}},
                             ConsistentRead=True)["Item"]
    shards = dynamodb.query(TableName="ma-local-messages", KeyConditionExpression="pk = :p",
                            ExpressionAttributeValues={":p": {"S": f"{workspace_id}#counters#task#t-e2e"}},
                            ConsistentRead=True)["Items"]
    delivered = sum(float(s.get("delivered", {}).get("N", "0")) for s in shards)
    assert item["status"]["S"] in ("delivered", "opened", "clicked"), item["status"]
    assert delivered == 1
