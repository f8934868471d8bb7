"""The SNS adapter (Publish to a phone number) against moto, and its error answers
through botocore's Stubber."""
from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from chalicelib import aws
from chalicelib.providers.sns import SnsSmsProvider
from tests.providers.conftest import STUB_ENDPOINT, config, message_record, outgoing, raising, run_sender, send_record


def sms_sent(message_id: str) -> tuple[str, str]:
    return sns_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sms_messages[message_id]


def number() -> str:
    return "+1425" + str(uuid.uuid4().int)[:7]


@pytest.fixture
def publishes(aws_backend):
    """The parameters of every Publish the default SNS client makes during the test."""
    seen: list[dict[str, Any]] = []
    events = aws.provider_client("sns").meta.events
    events.register("provide-client-params.sns.Publish", lambda params, **_: seen.append(dict(params)),
                    unique_id="capture-publish")
    yield seen
    events.unregister("provide-client-params.sns.Publish", unique_id="capture-publish")


def test_an_sms_is_published_to_the_phone_number_with_sender_id_and_type(publishes):
    to = number()
    provider = SnsSmsProvider(config("sns", "sms", sender_id="ACME", message_type="transactional"))

    [result] = provider.send([outgoing(to, "sms", body="Your code is 1234")])

    assert result.outcome == "accepted"
    assert sms_sent(result.provider_message_id) == (to, "Your code is 1234")
    assert publishes[0]["MessageAttributes"] == {
        "AWS.SNS.SMS.SenderID": {"DataType": "String", "StringValue": "ACME"},
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}}


def test_a_batch_is_published_one_message_each_in_order(publishes):
    batch = [outgoing(number(), "sms", body=f"m{i}") for i in range(5)]
    provider = SnsSmsProvider(config("sns", "sms"))

    results = provider.send(batch)

    assert [sms_sent(r.provider_message_id) for r in results] == [(m.to, m.content["body"]) for m in batch]
    assert all("MessageAttributes" not in p for p in publishes)


def test_a_number_not_in_e164_is_a_permanent_failure_with_the_sns_reason(aws_backend):
    [result] = SnsSmsProvider(config("sns", "sms")).send([outgoing("0425 555 0100", "sms", body="hi")])

    assert result.outcome == "permanent"
    assert result.reason == "Amazon SNS rejected the message: Phone number does not meet the E164 format (InvalidParameter)"


def test_an_sms_too_long_for_sns_fails_without_a_call(publishes):
    [result] = SnsSmsProvider(config("sns", "sms")).send([outgoing(number(), "sms", body="é" * 801)])

    assert (result.outcome, result.reason) == ("permanent", "the SMS body is 1602 bytes; Amazon SNS takes at most 1600")
    assert publishes == []


@pytest.mark.parametrize("code, status, outcome, words", [
    ("Throttling", 400, "retryable", "Amazon SNS is busy or failing: Rate exceeded (Throttling)"),
    ("InternalError", 500, "retryable", "Amazon SNS is busy or failing: Rate exceeded (InternalError)"),
    ("KMSThrottling", 400, "retryable", "Amazon SNS is busy or failing: Rate exceeded (KMSThrottling)"),
    ("InvalidParameter", 400, "permanent", "Amazon SNS rejected the message: Rate exceeded (InvalidParameter)"),
    ("AuthorizationError", 403, "permanent", "Amazon SNS rejected the message: Rate exceeded (AuthorizationError)"),
])
def test_sns_errors_map_to_retryable_or_permanent(stubbed, code, status, outcome, words):
    stubbed("sns").add_client_error("publish", code, "Rate exceeded", http_status_code=status)
    provider = SnsSmsProvider(config("sns", "sms", endpoint=STUB_ENDPOINT))

    [result] = provider.send([outgoing("+14255550100", "sms", body="hi")])

    assert (result.outcome, result.reason) == (outcome, words)


def test_a_timeout_is_retryable():
    with raising("sns", ReadTimeoutError(endpoint_url=STUB_ENDPOINT)):
        [result] = SnsSmsProvider(config("sns", "sms", endpoint=STUB_ENDPOINT)).send(
            [outgoing("+14255550100", "sms", body="hi")])

    assert (result.outcome, result.reason) == ("retryable", "Amazon SNS did not answer in time")


def test_the_sender_delivers_through_a_configured_sns_provider(app, api, workspace):
    assert api.put("/v1/providers/sms", {"channel": "sms", "kind": "sns", "cost_per_message": 0.00645,
                                         "settings": {"sender_id": "ACME", "message_type": "promotional"}},
                   key=workspace.admin_key).status == 200
    to = number()

    result = run_sender(app, send_record(workspace.id, "sms", "sms", [
        {"user_id": "u1", "to": to, "content": {"body": "Sale today"}}]))

    assert result == {"batchItemFailures": []}
    item = message_record(workspace.id, "u1")
    assert item.status == "sent" and item.provider_kind == "sns" and float(item.cost) == 0.00645
    assert sms_sent(item.provider_message_id) == (to, "Sale today")


def test_an_sms_provider_with_a_message_type_other_than_transactional_or_promotional_is_refused(api, workspace):
    reply = api.put("/v1/providers/sms-bad", {"channel": "sms", "kind": "sns", "settings": {"message_type": "urgent"}},
                    key=workspace.admin_key)

    assert reply.status == 400 and "is transactional or promotional" in json.dumps(reply.json)


@pytest.mark.parametrize("kind", ["ses", "sms_aws", "sns", "smtp"])
def test_the_declared_batch_ceiling_of_each_kind_is_its_adapters(kind):
    from chalicelib.providers import base
    from chalicelib.sending.providers_config import KINDS

    assert KINDS[kind].max_batch == base.kinds()[kind].max_batch
