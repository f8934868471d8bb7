"""The SES v2 adapter against moto (identities, sends) and botocore's Stubber (SES's
error answers)."""
from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ConnectTimeoutError, ReadTimeoutError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from chalicelib import aws
from chalicelib.providers import base
from chalicelib.providers.ses import SesProvider
from tests.providers.conftest import STUB_ENDPOINT, config, message_record, outgoing, raising, run_sender, send_record

ONE_CLICK = {"List-Unsubscribe": "<https://example.test/u/tok>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}


@pytest.fixture
def sender_address(aws_backend) -> str:
    """A verified identity of its own (the moto backend lives for the session)."""
    domain = f"d{uuid.uuid4().hex[:10]}.example"
    aws.provider_client("sesv2").create_email_identity(EmailIdentity=domain)
    return f"News <news@{domain}>"


def sent_by_moto(message_id: str) -> Any:
    [found] = [m for m in ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages if m.id == message_id]
    return found


@pytest.fixture
def requests(aws_backend):
    """The parameters of every SendEmail the default SES client makes during the test."""
    seen: list[dict[str, Any]] = []
    events = aws.provider_client("sesv2").meta.events
    events.register("provide-client-params.sesv2.SendEmail", lambda params, **_: seen.append(dict(params)),
                    unique_id="capture-send-email")
    yield seen
    events.unregister("provide-client-params.sesv2.SendEmail", unique_id="capture-send-email")


def test_an_email_goes_to_ses_with_subject_bodies_headers_and_configuration_set(sender_address, requests):
    provider = SesProvider(config("ses", "email", from_address=sender_address, configuration_set="events"))
    message = outgoing("ann@example.com", subject="Hello Ann", html="<p>Hi</p>", text="Hi", headers=ONE_CLICK)

    [result] = provider.send([message])

    assert result.outcome == "accepted" and result.provider_message_id
    sent = sent_by_moto(result.provider_message_id)
    assert sent.source == sender_address and sent.destinations == {"ToAddresses": ["ann@example.com"]}
    assert sent.subject == "Hello Ann"
    [request] = requests
    assert request["ConfigurationSetName"] == "events"
    simple = request["Content"]["Simple"]
    assert simple["Body"] == {"Html": {"Data": "<p>Hi</p>", "Charset": "UTF-8"}, "Text": {"Data": "Hi", "Charset": "UTF-8"}}
    assert simple["Headers"] == [{"Name": "List-Unsubscribe", "Value": "<https://example.test/u/tok>"},
                                 {"Name": "List-Unsubscribe-Post", "Value": "List-Unsubscribe=One-Click"}]


def test_a_batch_gets_one_result_per_message_in_order(sender_address):
    provider = SesProvider(config("ses", "email", from_address=sender_address))
    batch = [outgoing(f"user{i}@example.com", subject=f"n{i}", text="t") for i in range(6)]
    batch.insert(3, outgoing(None, subject="no address", text="t"))

    results = provider.send(batch)

    assert [r.outcome for r in results] == ["accepted"] * 3 + ["permanent"] + ["accepted"] * 3
    assert results[3].reason == "the recipient has no email address"
    for message, result in zip(batch, results):
        if result.outcome == "accepted":
            assert sent_by_moto(result.provider_message_id).destinations["ToAddresses"] == [message.to]


def test_a_sender_identity_ses_has_not_verified_fails_for_good_with_ses_reason(aws_backend):
    provider = SesProvider(config("ses", "email", from_address="someone@unverified.example"))

    [result] = provider.send([outgoing("ann@example.com", subject="s", text="t")])

    assert result.outcome == "permanent"
    assert result.reason.startswith("SES rejected the message: Email address not verified")
    assert result.reason.endswith("(MessageRejected)")


def test_an_email_without_subject_or_body_is_not_sent(aws_backend):
    provider = SesProvider(config("ses", "email", from_address="a@b.example"))

    results = provider.send([outgoing("x@example.com", text="t"), outgoing("x@example.com", subject="s")])

    assert [(r.outcome, r.reason) for r in results] == [
        ("permanent", "the email has no subject"), ("permanent", "the email has neither html nor text")]


@pytest.mark.parametrize("code, status, outcome, words", [
    ("TooManyRequestsException", 429, "retryable", "SES is busy or failing: Maximum sending rate exceeded"),
    ("LimitExceededException", 400, "retryable", "SES is busy or failing: Maximum sending rate exceeded"),
    ("InternalFailure", 500, "retryable", "SES is busy or failing"),
    ("ServiceUnavailable", 503, "retryable", "SES is busy or failing"),
    ("MessageRejected", 400, "permanent", "SES rejected the message: Maximum sending rate exceeded"),
    ("MailFromDomainNotVerifiedException", 400, "permanent", "the MAIL FROM domain of the sending identity is not verified"),
    ("SendingPausedException", 400, "permanent", "sending is paused for the SES account"),
    ("AccountSuspendedException", 400, "permanent", "the SES account is suspended from sending"),
    ("NotFoundException", 404, "permanent", "SES does not know a resource the message names"),
])
def test_ses_errors_map_to_retryable_or_permanent_with_ses_reason(stubbed, code, status, outcome, words):
    stub = stubbed("sesv2")
    stub.add_client_error("send_email", code, "Maximum sending rate exceeded.", http_status_code=status)
    provider = SesProvider(config("ses", "email", from_address="a@b.example", endpoint=STUB_ENDPOINT))

    [result] = provider.send([outgoing("x@example.com", subject="s", text="t")])

    assert result.outcome == outcome
    assert result.reason.startswith(words) and result.reason.endswith(f"({code})")


def test_a_throttled_email_carries_the_retry_after_ses_gave(stubbed):
    stub = stubbed("sesv2")
    stub.add_client_error("send_email", "TooManyRequestsException", "slow down", http_status_code=429,
                          response_meta={"HTTPHeaders": {"retry-after": "7"}})
    provider = SesProvider(config("ses", "email", from_address="a@b.example", endpoint=STUB_ENDPOINT))

    [result] = provider.send([outgoing("x@example.com", subject="s", text="t")])

    assert (result.outcome, result.retry_after) == ("retryable", 7.0)


@pytest.mark.parametrize("error, words", [
    (ReadTimeoutError(endpoint_url=STUB_ENDPOINT), "SES did not answer in time"),
    (ConnectTimeoutError(endpoint_url=STUB_ENDPOINT), "could not reach SES"),
])
def test_timeouts_and_connection_errors_are_retryable(aws_backend, error, words):
    provider = SesProvider(config("ses", "email", from_address="a@b.example", endpoint=STUB_ENDPOINT))

    with raising("sesv2", error):
        [result] = provider.send([outgoing("x@example.com", subject="s", text="t")])

    assert (result.outcome, result.reason) == ("retryable", words)


def test_the_region_and_endpoint_settings_choose_the_client(aws_backend):
    provider = SesProvider(config("ses", "email", from_address="a@b.example", region="eu-west-1",
                                  endpoint="https://ses.gateway.example"))
    urls: list[str] = []
    client = aws.provider_client("sesv2", "eu-west-1", "https://ses.gateway.example")

    def record(request: Any, **_: Any) -> None:
        urls.append(request.url)
        raise ConnectTimeoutError(endpoint_url=request.url)

    client.meta.events.register_first("before-send", record, unique_id="record-url")
    try:
        [result] = provider.send([outgoing("x@example.com", subject="s", text="t")])
    finally:
        client.meta.events.unregister("before-send", unique_id="record-url")

    assert urls and urls[0].startswith("https://ses.gateway.example/")
    assert client.meta.region_name == "eu-west-1" and result.outcome == "retryable"
    assert aws.provider_client("sesv2", "eu-west-1", "https://ses.gateway.example") is client


def test_the_sender_delivers_through_a_configured_ses_provider(app, api, workspace, sender_address):
    assert api.put("/v1/providers/mail", {"channel": "email", "kind": "ses", "cost_per_message": 0.0001,
                                          "settings": {"from_address": sender_address}},
                   key=workspace.admin_key).status == 200
    content = {"subject": "Welcome", "text": "Hello", "headers": ONE_CLICK}

    result = run_sender(app, send_record(workspace.id, "mail", "email",
                                         [{"user_id": "u1", "to": "ann@example.com", "content": content}]))

    assert result == {"batchItemFailures": []}
    item = message_record(workspace.id, "u1")
    assert item.status == "sent" and item.provider_kind == "ses"
    assert sent_by_moto(item.provider_message_id).subject == "Welcome"


def test_importing_the_providers_package_registers_the_aws_and_smtp_kinds():
    assert {"ses", "sms_aws", "sns", "smtp"} <= set(base.kinds())
