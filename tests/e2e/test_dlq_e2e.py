"""End to end: `python -m ops.dlq` finds the running local stack through its state directory."""
from __future__ import annotations

import json

import boto3
import pytest

from tests.e2e.support import dlq_command

pytestmark = pytest.mark.e2e


def test_a_dead_letter_in_the_local_stack_is_listed_with_its_reason_and_redriven(stack):
    """(That a stopped stack is not offered is checked where a stack is stopped: test_local_stack.)"""
    sqs = boto3.client("sqs", endpoint_url=stack.moto_endpoint, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    dlq_url = sqs.get_queue_url(QueueName="ma-local-events-dlq")["QueueUrl"]
    body = json.dumps({"type": "events", "workspace_id": "ws_e2e", "received_at": "2026-11-26T00:00:00Z",
                       "events": [{"user_id": "u1", "event_id": "e1", "name": "x", "ts": "2026-11-26T00:00:00Z",
                                   "properties": {}}]})
    message_id = sqs.send_message(QueueUrl=dlq_url, MessageBody=body, MessageAttributes={
        "reason": {"DataType": "String", "StringValue": "event e1: number out of range"},
        "source_queue": {"DataType": "String", "StringValue": "ma-local-events"},
    })["MessageId"]

    listed = dlq_command(stack.state_dir)
    assert listed.returncode == 0, listed.stderr
    assert "events: 1 dead letter in ma-local-events-dlq" in listed.stdout
    assert message_id in listed.stdout
    assert "event e1: number out of range" in listed.stdout
    assert "events, workspace ws_e2e, 1 event from user u1" in listed.stdout

    redriven = dlq_command(stack.state_dir, "redrive", "events")
    assert redriven.returncode == 0, redriven.stderr
    assert "moved 1 message(s) back to ma-local-events" in redriven.stdout

    after = dlq_command(stack.state_dir, "list")
    assert after.returncode == 0, after.stderr
    assert message_id not in after.stdout  # it left the DLQ (whatever the handler makes of the copy)
