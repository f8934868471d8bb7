"""The End User Messaging SMS adapter (pinpoint-sms-voice-v2 SendTextMessage) against
botocore's Stubber: moto does not implement the service."""
from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from chalicelib.providers import aws_calls
from chalicelib.providers.sms_aws import EndUserMessagingSmsProvider
from tests.providers.conftest import STUB_ENDPOINT, config, message_record, outgoing, raising, run_sender, send_record

SERVICE = "pinpoint-sms-voice-v2"


def provider(**settings) -> EndUserMessagingSmsProvider:
    return EndUserMessagingSmsProvider(config("sms_aws", "sms", endpoint=STUB_ENDPOINT, **settings))


def test_an_sms_is_sent_with_origination_identity_configuration_set_type_and_message_key(stubbed):
    stub = stubbed(SERVICE)
    message = outgoing("+14255550100", "sms", key="k1", body="Your code is 1234")
    stub.add_response("send_text_message", {"MessageId": "mid-1"}, expected_params={
        "DestinationPhoneNumber": "+14255550100", "MessageBody": "Your code is 1234",
        "OriginationIdentity": "pool-abc", "ConfigurationSetName": "sms-events", "MessageType": "TRANSACTIONAL",
        "Context": {"message_key": "ws_test#msg|k1"}})

    results = provider(origination_identity="pool-abc", configuration_set="sms-events",
                       message_type="transactional").send([message])

    assert [(r.outcome, r.provider_message_id) for r in results] == [("accepted", "mid-1")]


def test_a_message_type_in_the_content_wins_over_the_setting_and_absent_settings_are_left_out(stubbed):
    stub = stubbed(SERVICE)
    stub.add_response("send_text_message", {"MessageId": "mid-2"}, expected_params={
        "DestinationPhoneNumber": "+14255550101", "MessageBody": "Sale!", "MessageType": "PROMOTIONAL",
        "Context": {"message_key": "ws_test#msg|k2"}})

    [result] = provider(message_type="transactional").send(
        [outgoing("+14255550101", "sms", key="k2", text="Sale!", message_type="promotional")])

    assert result.outcome == "accepted"


@pytest.mark.parametrize("code, status, meta, outcome, words", [
    ("ThrottlingException", 429, {}, "retryable", "AWS End User Messaging SMS is busy or failing: Rate exceeded"),
    ("InternalServerException", 500, {}, "retryable", "AWS End User Messaging SMS is busy or failing"),
    ("ValidationException", 400, {"Reason": "INVALID_PARAMETER"}, "permanent",
     "AWS End User Messaging SMS found the message invalid: Rate exceeded (ValidationException INVALID_PARAMETER)"),
    ("ConflictException", 409, {"Reason": "DESTINATION_PHONE_NUMBER_OPTED_OUT", "ResourceType": "opt-out-list"},
     "permanent", "the recipient's phone number opted out of SMS from this sender "
                  "(ConflictException DESTINATION_PHONE_NUMBER_OPTED_OUT)"),
    ("ServiceQuotaExceededException", 402, {"Reason": "MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT"}, "permanent",
     "the account's monthly SMS spend limit is reached (ServiceQuotaExceededException MONTHLY_SPEND_LIMIT_REACHED_FOR_TEXT)"),
    ("AccessDeniedException", 403, {"Reason": "ACCOUNT_DISABLED"}, "permanent",
     "AWS End User Messaging SMS refused the message: Rate exceeded (AccessDeniedException ACCOUNT_DISABLED)"),
])
def test_end_user_messaging_errors_map_to_retryable_or_permanent_with_the_reason(stubbed, code, status, meta, outcome, words):
    stub = stubbed(SERVICE)
    stub.add_client_error("send_text_message", code, "Rate exceeded.", http_status_code=status,
                          service_error_meta=meta)

    [result] = provider().send([outgoing("+14255550100", "sms", body="hi")])

    assert result.outcome == outcome
    assert result.reason.startswith(words)


def test_a_throttled_sms_carries_the_retry_after_given(stubbed):
    stubbed(SERVICE).add_client_error("send_text_message", "ThrottlingException", "Rate exceeded",
                                      http_status_code=429, response_meta={"HTTPHeaders": {"retry-after": "2"}})

    [result] = provider().send([outgoing("+14255550100", "sms", body="hi")])

    assert (result.outcome, result.retry_after) == ("retryable", 2.0)


def test_a_batch_maps_each_message_on_its_own_in_order(stubbed, monkeypatch):
    stub = stubbed(SERVICE)
    batch = [outgoing(f"+1425555010{i}", "sms", key=f"k{i}", body=f"m{i}") for i in range(3)]
    stub.add_response("send_text_message", {"MessageId": "mid-0"})  # the first goes alone, the rest in turn
    stub.add_client_error("send_text_message", "ThrottlingException", "Rate exceeded", http_status_code=429)
    stub.add_response("send_text_message", {"MessageId": "mid-2"})
    monkeypatch.setattr(aws_calls, "CONCURRENCY", 1)  # the Stubber answers in turn: keep the calls in turn

    results = provider().send(batch)

    assert [r.outcome for r in results] == ["accepted", "retryable", "accepted"]
    assert [r.provider_message_id for r in results] == ["mid-0", None, "mid-2"]


def test_messages_that_cannot_be_sent_fail_without_a_call(stubbed):
    stubbed(SERVICE)  # no answers: any call would fail the test

    results = provider(message_type="transactional").send([
        outgoing(None, "sms", body="hi"), outgoing("+14255550100", "sms"),
        outgoing("+14255550100", "sms", body="x" * 1601),
        outgoing("+14255550100", "sms", body="hi", message_type="urgent")])

    assert [r.reason for r in results] == [
        "the recipient has no phone number", "the SMS has no body",
        "the SMS body is 1601 characters; AWS End User Messaging SMS takes at most 1600",
        "the message type is transactional or promotional"]
    assert {r.outcome for r in results} == {"permanent"}


@pytest.mark.parametrize("error, words", [
    (ReadTimeoutError(endpoint_url=STUB_ENDPOINT), "AWS End User Messaging SMS did not answer in time"),
    (EndpointConnectionError(endpoint_url=STUB_ENDPOINT), "could not reach AWS End User Messaging SMS"),
])
def test_timeouts_and_connection_errors_are_retryable(error, words):
    with raising(SERVICE, error):
        [result] = provider().send([outgoing("+14255550100", "sms", body="hi")])

    assert (result.outcome, result.reason) == ("retryable", words)


def test_the_sender_delivers_through_a_configured_end_user_messaging_provider(app, api, workspace, stubbed):
    assert api.put("/v1/providers/sms", {"channel": "sms", "kind": "sms_aws", "endpoint": STUB_ENDPOINT,
                                         "settings": {"origination_identity": "+18005550199",
                                                      "message_type": "transactional"}},
                   key=workspace.admin_key).status == 200
    stub = stubbed(SERVICE)
    stub.add_response("send_text_message", {"MessageId": "eum-1"}, expected_params={
        "DestinationPhoneNumber": "+14255550100", "MessageBody": "Your code is 1234",
        "OriginationIdentity": "+18005550199", "MessageType": "TRANSACTIONAL",
        "Context": {"message_key": str(message_key(workspace.id, "u1"))}})

    result = run_sender(app, send_record(workspace.id, "sms", "sms", [
        {"user_id": "u1", "to": "+14255550100", "content": {"body": "Your code is 1234"}}]))

    assert result == {"batchItemFailures": []}
    item = message_record(workspace.id, "u1")
    assert (item.status, item.provider_message_id, item.provider_kind) == ("sent", "eum-1", "sms_aws")


def message_key(workspace_id: str, user_id: str):
    from chalicelib.sending.messages import MessageKey

    return MessageKey(workspace_id, user_id, task_id="tsk_1")
