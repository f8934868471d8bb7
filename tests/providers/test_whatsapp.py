"""The WhatsApp Cloud API adapter against a local server: the exact request, the
documented answers, the 24-hour customer-service window, and the webhook (verification,
X-Hub-Signature-256, statuses and inbound messages in the documented shapes)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib import clock
from chalicelib.providers.base import CallbackMalformed, CallbackRejected, InboundMessage, Receipt
from chalicelib.sending import repo_service_window
from tests.providers.chat_helpers import callback, make_provider, outgoing

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
TOKEN, APP_SECRET, VERIFY = "EAAJB-test-token", "app-secret-123", "verify-me"
PATH = "/v21.0/106540352242922/messages"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def whatsapp(aws_backend, httpserver):
    def make(credentials=None, **settings):
        creds = {"access_token": TOKEN, "app_secret": APP_SECRET, "verify_token": VERIFY} \
            if credentials is None else credentials
        return make_provider(httpserver, "whatsapp", "whatsapp", {"phone_number_id": "106540352242922", **settings},
                             creds or None)
    return make


ACCEPTED = {"messaging_product": "whatsapp", "contacts": [{"input": "+16505551234", "wa_id": "16505551234"}],
            "messages": [{"id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"}]}


def test_a_template_message_is_posted_with_its_name_language_and_body_parameters(whatsapp, httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_json(ACCEPTED)
    provider = whatsapp()
    message = outgoing(provider, "+16505551234", {"channel": "whatsapp", "external_id": "order_shipped",
                                                  "language": "en_US", "params": ["Ana", "#1042"]})

    [result] = provider.send([message])

    assert (result.outcome, result.provider_message_id) == ("accepted", ACCEPTED["messages"][0]["id"])
    [(request, _)] = httpserver.log
    assert request.method == "POST" and request.path == PATH
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505551234", "type": "template",
        "template": {"name": "order_shipped", "language": {"code": "en_US"}, "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"}, {"type": "text", "text": "#1042"}]}]},
    }


def test_a_template_without_parameters_has_no_components_and_the_api_version_is_a_setting(whatsapp, httpserver):
    httpserver.expect_request("/v19.0/106540352242922/messages", method="POST").respond_with_json(ACCEPTED)
    provider = whatsapp(api_version="v19.0")

    [result] = provider.send([outgoing(provider, "16505551234", {"external_id": "hello_world", "language": "en_US"})])

    assert result.outcome == "accepted"
    body = json.loads(httpserver.log[0][0].get_data())
    assert body["template"] == {"name": "hello_world", "language": {"code": "en_US"}}


def test_free_text_goes_out_only_inside_the_24_hour_window_and_fails_outside_it_without_a_call(whatsapp, httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_json(ACCEPTED)
    provider = whatsapp()
    ws = provider.config.workspace_id
    repo_service_window.touch(ws, "whatsapp", "16505550001", NOW - timedelta(hours=23))
    repo_service_window.touch(ws, "whatsapp", "16505550002", NOW - timedelta(hours=25))
    inside = outgoing(provider, "16505550001", {"text": "Your order is on its way"}, user_id="u1")
    expired = outgoing(provider, "16505550002", {"text": "Hi"}, user_id="u2")
    never = outgoing(provider, "16505550003", {"text": "Hi"}, user_id="u3")

    results = provider.send([inside, expired, never])

    assert [r.outcome for r in results] == ["accepted", "permanent", "permanent"]
    assert results[1].reason == results[2].reason == "outside the 24-hour customer-service window"
    [(request, _)] = httpserver.log
    assert json.loads(request.get_data()) == {
        "messaging_product": "whatsapp", "recipient_type": "individual", "to": "16505550001", "type": "text",
        "text": {"preview_url": False, "body": "Your order is on its way"},
    }


def error(code: int, message: str, details: str = "") -> dict:
    return {"error": {"message": message, "type": "OAuthException", "code": code,
                      "error_data": {"messaging_product": "whatsapp", "details": details},
                      "fbtrace_id": "AbCdEf"}}


@pytest.mark.parametrize("status, answer, outcome, words", [
    (400, error(130429, "(#130429) Rate limit hit", "Cloud API message throughput has been reached."),
     "retryable", "throughput rate limit"),
    (400, error(131047, "Re-engagement message", "Message failed to send because more than 24 hours have passed "
                "since the customer last replied to this number."), "permanent",
     "outside the 24-hour customer-service window"),
    (400, error(131026, "Message Undeliverable"), "permanent", "undeliverable"),
    (404, error(132001, "Template name does not exist in the translation"), "permanent", "template does not exist"),
    (401, error(190, "Error validating access token"), "permanent", "access token"),
    (500, error(1, "An unknown error occurred"), "retryable", "WhatsApp answered 500"),
    (503, {}, "retryable", "WhatsApp answered 503"),
])
def test_documented_errors_become_retryable_or_permanent_with_the_reason(whatsapp, httpserver, status, answer,
                                                                          outcome, words):
    httpserver.expect_request(PATH, method="POST").respond_with_json(answer, status=status)
    provider = whatsapp()

    [result] = provider.send([outgoing(provider, "16505551234", {"external_id": "hello_world", "language": "en_US"})])

    assert result.outcome == outcome
    assert words in (result.reason or "")


def test_a_provider_without_stored_credentials_fails_every_message_without_a_call(whatsapp, httpserver):
    provider = whatsapp(credentials={})
    results = provider.send([outgoing(provider, "1650555", {"external_id": "x", "language": "en"})] * 2)
    assert [r.outcome for r in results] == ["permanent", "permanent"]
    assert "credentials" in (results[0].reason or "")
    assert httpserver.log == []


# ------------------------------------------------------------------------- webhook
def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "Content-Type": "application/json"}


def notification(value: dict) -> bytes:
    return json.dumps({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [
        {"value": {"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                   **value}, "field": "messages"}]}]}).encode()


def test_the_verification_request_is_answered_with_the_challenge(whatsapp):
    provider = whatsapp()
    result = provider.handle_callback(callback("GET", query={"hub.mode": "subscribe", "hub.verify_token": VERIFY,
                                                             "hub.challenge": "1158201444"}))
    assert result.reply == (200, "1158201444", "text/plain")


def test_a_verification_with_another_token_is_rejected(whatsapp):
    with pytest.raises(CallbackRejected):
        whatsapp().handle_callback(callback("GET", query={"hub.mode": "subscribe", "hub.verify_token": "guess",
                                                          "hub.challenge": "1"}))


def test_statuses_become_receipts_delivered_opened_and_failed_and_sent_is_skipped(whatsapp):
    body = notification({"statuses": [
        {"id": "wamid.A", "status": "sent", "timestamp": "1750263773", "recipient_id": "16505551234"},
        {"id": "wamid.A", "status": "delivered", "timestamp": "1750263774", "recipient_id": "16505551234"},
        {"id": "wamid.A", "status": "read", "timestamp": "1750263780", "recipient_id": "16505551234"},
        {"id": "wamid.B", "status": "failed", "timestamp": "1750263790", "recipient_id": "16505550000",
         "errors": [{"code": 131047, "title": "Re-engagement message", "message": "Re-engagement message",
                     "error_data": {"details": "Message failed to send because more than 24 hours have passed"}}]},
    ]})

    result = whatsapp().handle_callback(callback("POST", body, signed(body)))

    at = lambda s: datetime.fromtimestamp(s, tz=timezone.utc)  # noqa: E731
    assert result.receipts == [
        Receipt("wamid.A", "delivered", at(1750263774), address="16505551234"),
        Receipt("wamid.A", "opened", at(1750263780), address="16505551234"),
        Receipt("wamid.B", "failed", at(1750263790),
                reason="outside the 24-hour customer-service window (WhatsApp error 131047)", address="16505550000"),
    ]
    assert result.inbound == []


def test_text_button_and_interactive_replies_become_inbound_messages(whatsapp):
    sender = "16315551181"
    body = notification({"contacts": [{"profile": {"name": "Kerry"}, "wa_id": sender}], "messages": [
        {"from": sender, "id": "wamid.T", "timestamp": "1750263800", "type": "text", "text": {"body": "Is it in stock?"}},
        {"from": sender, "id": "wamid.Q", "timestamp": "1750263801", "type": "button",
         "context": {"from": "15550783881", "id": "wamid.SENT"}, "button": {"payload": "YES_PAYLOAD", "text": "Yes"}},
        {"from": sender, "id": "wamid.I", "timestamp": "1750263802", "type": "interactive",
         "interactive": {"type": "button_reply", "button_reply": {"id": "unique-button-id", "title": "Book now"}}},
        {"from": sender, "id": "wamid.L", "timestamp": "1750263803", "type": "interactive",
         "interactive": {"type": "list_reply", "list_reply": {"id": "row-2", "title": "Size M",
                                                              "description": "Medium"}}},
    ]})

    result = whatsapp().handle_callback(callback("POST", body, signed(body)))

    at = lambda s: datetime.fromtimestamp(s, tz=timezone.utc)  # noqa: E731
    assert result.inbound == [
        InboundMessage("whatsapp", sender, at(1750263800), "Is it in stock?", {"type": "text"}, "wamid.T"),
        InboundMessage("whatsapp", sender, at(1750263801), "Yes",
                       {"type": "button", "payload": "YES_PAYLOAD", "in_reply_to": "wamid.SENT"}, "wamid.Q"),
        InboundMessage("whatsapp", sender, at(1750263802), "Book now",
                       {"type": "interactive", "reply_type": "button_reply", "id": "unique-button-id"}, "wamid.I"),
        InboundMessage("whatsapp", sender, at(1750263803), "Size M",
                       {"type": "interactive", "reply_type": "list_reply", "id": "row-2", "description": "Medium"},
                       "wamid.L"),
    ]


@pytest.mark.parametrize("headers", [
    {}, {"X-Hub-Signature-256": "sha256=" + "0" * 64}, {"X-Hub-Signature-256": "deadbeef"},
])
def test_a_post_without_a_valid_signature_is_rejected(whatsapp, headers):
    body = notification({"statuses": []})
    with pytest.raises(CallbackRejected):
        whatsapp().handle_callback(callback("POST", body, headers))


def test_a_post_signed_with_another_secret_is_rejected(whatsapp):
    body = notification({"statuses": []})
    with pytest.raises(CallbackRejected):
        whatsapp().handle_callback(callback("POST", body, signed(body, "another-secret")))


@pytest.mark.parametrize("body", [
    b"not json", b"[]", json.dumps({"object": "page", "entry": []}).encode(),
    notification({"statuses": [{"status": "delivered"}]}),
    notification({"messages": [{"id": "wamid.X", "type": "text"}]}),
    notification({"messages": [{"from": "1", "id": "x", "timestamp": "1", "type": "interactive",
                                "interactive": {"type": "nfm_reply"}}]}),
])
def test_a_signed_post_not_in_the_documented_shape_is_malformed(whatsapp, body):
    with pytest.raises(CallbackMalformed):
        whatsapp().handle_callback(callback("POST", body, signed(body)))
