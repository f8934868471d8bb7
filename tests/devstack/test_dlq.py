"""The dead-letter command (ops/dlq.py): list with reasons, redrive, locally and in the cloud."""
from __future__ import annotations

import argparse
import io
import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from chalicelib import aws
from chalicelib.config import settings
from ops import dlq


@pytest.fixture
def target(aws_backend) -> dlq.Target:
    sqs = aws.sqs()
    return dlq.Target(sqs, local=True, pairs=dlq.by_local_names(sqs, dlq.template_pairs(), settings.resource_prefix))


def events_pair(target: dlq.Target) -> dlq.QueuePair:
    (pair,) = [p for p in target.pairs if p.name == "events"]
    return pair


def message(workspace: str = "ws_1", *users: str) -> str:
    return json.dumps({"type": "events", "workspace_id": workspace, "received_at": "2026-11-26T00:00:00Z",
                       "events": [{"user_id": u, "event_id": f"e{i}", "name": "x", "ts": "2026-11-26T00:00:00Z",
                                   "properties": {}} for i, u in enumerate(users)]})


def dead_letter_by_the_handler(target: dlq.Target, body: str, reason: str) -> str:
    pair = events_pair(target)
    return str(target.sqs.send_message(QueueUrl=pair.dlq_url, MessageBody=body, MessageAttributes={
        "reason": {"DataType": "String", "StringValue": reason},
        "source_queue": {"DataType": "String", "StringValue": settings.queue("events")},
        "trace": {"DataType": "String", "StringValue": "kept"},
    })["MessageId"])


def dead_letter_by_sqs(target: dlq.Target, body: str) -> str:
    """A message whose handler failed it maxReceiveCount times: SQS moves it on the next receive."""
    pair = events_pair(target)
    message_id = str(target.sqs.send_message(QueueUrl=pair.url, MessageBody=body)["MessageId"])
    for _ in range(10):
        if not target.sqs.receive_message(QueueUrl=pair.url, VisibilityTimeout=0).get("Messages"):
            return message_id
    raise AssertionError("the message was not dead-lettered")


def listed(target: dlq.Target) -> dict[str, dlq.DeadLetter]:
    return {d.message_id: d for d in dlq.list_dead_letters(target.sqs, events_pair(target)).letters}


def drain(target: dlq.Target, url: str) -> list[dict[str, Any]]:
    got = []
    while messages := target.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                 MessageAttributeNames=["All"]).get("Messages", []):
        got += messages
        target.sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return got


def test_every_queue_with_a_redrive_policy_is_found_in_the_template():
    pairs = dlq.template_pairs({"Resources": {
        "ADlq": {"Type": "AWS::SQS::Queue", "Metadata": {"LocalName": "a-dlq"}, "Properties": {}},
        "A": {"Type": "AWS::SQS::Queue", "Metadata": {"LocalName": "a"}, "Properties": {
            "RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["ADlq", "Arn"]}, "maxReceiveCount": 3}}},
        "Plain": {"Type": "AWS::SQS::Queue", "Metadata": {"LocalName": "plain"}, "Properties": {}},
    }})
    assert pairs == [dlq.QueuePair("a", "A", "a-dlq", "ADlq", 3)]
    found = [(p.name, p.dlq_name, p.max_receive_count) for p in dlq.template_pairs()]
    assert ("events", "events-dlq", 5) in found and ("sends", "sends-dlq", 10) in found
    assert ("steps", "steps-dlq", 5) in found


def test_dead_letters_are_listed_with_the_handlers_reason_or_the_receive_count(target):
    by_handler = dead_letter_by_the_handler(target, message("ws_1", "u1"), "event e0: number out of range")
    by_sqs = dead_letter_by_sqs(target, message("ws_2", "u1", "u2", "u2"))

    letters = listed(target)

    assert set(letters) == {by_handler, by_sqs}
    assert letters[by_handler].reason == "event e0: number out of range"
    assert letters[by_handler].summary == "events, workspace ws_1, 1 event from user u1"
    assert letters[by_sqs].reason == f"the handler failed it 5 times; see the logs for message id {by_sqs}"
    assert letters[by_sqs].summary == "events, workspace ws_2, 3 events from 2 users"
    assert letters[by_sqs].receive_count >= 5
    assert all(d.sent_at is not None for d in letters.values())


def test_listing_hides_and_loses_nothing(target):
    ids = {dead_letter_by_the_handler(target, message("ws_1", f"u{n}"), "bad") for n in range(13)}

    first, second = listed(target), listed(target)

    assert set(first) == set(second) == ids
    assert dlq.depth(target.sqs, events_pair(target).dlq_url) == 13  # all visible again


def test_the_listing_prints_depth_reason_and_summary(target):
    message_id = dead_letter_by_the_handler(target, "not json at all", "unreadable")
    out = io.StringIO()

    code = dlq.run(argparse.Namespace(action="list", name=None, max=100), target, out)

    text = out.getvalue()
    assert code == 0
    assert f"events: 1 dead letter in {settings.resource_prefix}events-dlq" in text
    assert message_id in text and "reason      unreadable" in text and "not JSON (15 characters)" in text


def test_redrive_moves_dead_letters_back_with_the_same_body_and_no_reason(target):
    bodies = {message("ws_1", f"u{n}") for n in range(12)}
    for body in bodies:
        dead_letter_by_the_handler(target, body, "bad")
    dead_letter_by_sqs(target, message("ws_1", "again"))
    pair = events_pair(target)
    out = io.StringIO()

    assert dlq.run(argparse.Namespace(action="redrive", name="events", wait=False), target, out) == 0

    assert "moved 13 message(s) back" in out.getvalue()
    assert dlq.depth(target.sqs, pair.dlq_url) == 0
    back = drain(target, pair.url)
    assert {m["Body"] for m in back} == bodies | {message("ws_1", "again")}
    assert all(set(m.get("MessageAttributes", {})) <= {"trace"} for m in back)
    assert sum("trace" in m.get("MessageAttributes", {}) for m in back) == 12


class RefusingOne:
    """The SQS client, but SendMessageBatch refuses the entry whose body is ``refused``."""

    def __init__(self, real: Any, refused: str):
        self.real, self.refused = real, refused

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        kept = [e for e in Entries if e["MessageBody"] != self.refused]
        reply = self.real.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {"Successful": []}
        reply["Failed"] = [{"Id": e["Id"], "SenderFault": True, "Code": "InvalidParameterValue",
                            "Message": "refused for the test"} for e in Entries if e["MessageBody"] == self.refused]
        return reply


def test_a_message_whose_copy_was_refused_stays_in_the_dead_letter_queue(target):
    pair = events_pair(target)
    refused = message("ws_1", "refused")
    kept_id = dead_letter_by_the_handler(target, refused, "bad")
    for n in range(3):
        dead_letter_by_the_handler(target, message("ws_1", f"u{n}"), "bad")

    moved = dlq.redrive_by_copy(RefusingOne(target.sqs, refused), pair)

    assert moved.moved == 3 and moved.failed == {kept_id: "refused for the test"}
    assert len(drain(target, pair.url)) == 3
    left = listed(target)  # released at once, not hidden
    assert set(left) == {kept_id} and left[kept_id].reason == "bad"


def test_in_the_cloud_redrive_starts_a_move_task_to_the_source_queue_and_follows_it(monkeypatch):
    sqs = boto3.client("sqs", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    pair = dlq.QueuePair("events", "EventsQueue", "events-dlq", "EventsDeadLetterQueue", 5,
                         url="https://sqs.us-east-1.amazonaws.com/1/app-events",
                         dlq_url="https://sqs.us-east-1.amazonaws.com/1/app-events-dlq")
    dlq_arn, queue_arn = "arn:aws:sqs:us-east-1:1:app-events-dlq", "arn:aws:sqs:us-east-1:1:app-events"
    stub = Stubber(sqs)
    stub.add_response("get_queue_attributes", {"Attributes": {"ApproximateNumberOfMessages": "7"}},
                      {"QueueUrl": pair.dlq_url, "AttributeNames": ["ApproximateNumberOfMessages"]})
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": dlq_arn}},
                      {"QueueUrl": pair.dlq_url, "AttributeNames": ["QueueArn"]})
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": queue_arn}},
                      {"QueueUrl": pair.url, "AttributeNames": ["QueueArn"]})
    stub.add_response("start_message_move_task", {"TaskHandle": "handle-1"},
                      {"SourceArn": dlq_arn, "DestinationArn": queue_arn})
    for status, moved in (("RUNNING", 3), ("COMPLETED", 7)):
        stub.add_response("list_message_move_tasks", {"Results": [{
            "TaskHandle": "handle-1", "Status": status, "SourceArn": dlq_arn,
            "ApproximateNumberOfMessagesMoved": moved, "ApproximateNumberOfMessagesToMove": 7}]},
            {"SourceArn": dlq_arn, "MaxResults": 10})
    out = io.StringIO()
    monkeypatch.setattr(dlq, "MOVE_POLL_SECONDS", 0)
    with stub:
        code = dlq.run(argparse.Namespace(action="redrive", name=None, wait=True),
                       dlq.Target(sqs, local=False, pairs=[pair]), out)
    assert code == 0
    assert out.getvalue().splitlines() == [
        "events: moving 7 message(s) back to app-events; task handle handle-1",
        "  RUNNING: 3 of 7 moved",
        "  COMPLETED: 7 of 7 moved",
    ]
    stub.assert_no_pending_responses()


def test_a_deployed_stack_is_found_by_logical_ids():
    cfn = boto3.client("cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cfn)
    stub.add_response("list_stack_resources", {"StackResourceSummaries": [
        {"LogicalResourceId": "EventsQueue", "PhysicalResourceId": "https://sqs/1/prod-events",
         "ResourceType": "AWS::SQS::Queue", "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
         "ResourceStatus": "CREATE_COMPLETE"},
        {"LogicalResourceId": "EventsDeadLetterQueue", "PhysicalResourceId": "https://sqs/1/prod-events-dlq",
         "ResourceType": "AWS::SQS::Queue", "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
         "ResourceStatus": "CREATE_COMPLETE"},
    ]}, {"StackName": "prod"})
    with stub:
        (pair,) = dlq.by_stack(cfn, [p for p in dlq.template_pairs() if p.name == "events"], "prod")
    assert (pair.url, pair.dlq_url) == ("https://sqs/1/prod-events", "https://sqs/1/prod-events-dlq")


def test_explicit_urls_and_the_local_endpoint_are_understood(tmp_path, capsys):
    (pair,) = dlq.by_explicit(dlq.template_pairs(), {"events": "https://q"}, {"events": "https://d"})
    assert (pair.url, pair.dlq_url, pair.max_receive_count) == ("https://q", "https://d", 5)
    assert dlq.is_loopback("http://127.0.0.1:5000") and dlq.is_loopback("http://localhost:4566")
    assert not dlq.is_loopback("https://sqs.us-east-1.amazonaws.com") and not dlq.is_loopback(None)

    assert dlq.main(["--state-dir", str(tmp_path)]) == 2
    assert "no local stack is running" in capsys.readouterr().err
    (tmp_path / "running.json").write_text(json.dumps({"moto_endpoint": "http://127.0.0.1:1"}))
    assert dlq.local_endpoint(tmp_path) == "http://127.0.0.1:1"
