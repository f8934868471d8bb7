"""The Viber REST bot API adapter against a local server: the exact send_message
request, the documented status codes, and the signed callbacks (receipts and inbound)."""
from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest

from chalicelib import clock
from chalicelib.providers.base import CallbackMalformed, CallbackRejected, InboundMessage, Receipt
from tests.providers.chat_helpers import callback, make_provider, outgoing

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
AUTH = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
RECEIVER = "01234567890A="


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def viber(aws_backend, httpserver):
    def make(credentials=None, **settings):
        creds = {"auth_token": AUTH} if credentials is None else credentials
        return make_provider(httpserver, "viber", "viber", {"sender_name": "Shop Bot", **settings}, creds or None)
    return make


OK = {"status": 0, "status_message": "ok", "message_token": 5741311803571721087, "chat_hostname": "SN-CHAT-05_"}


def test_a_text_message_is_posted_with_the_auth_token_sender_and_tracking_data(viber, httpserver):
    httpserver.expect_request("/pa/send_message", method="POST").respond_with_json(OK)
    provider = viber(sender_avatar="https://example.com/avatar.jpg")
    message = outgoing(provider, RECEIVER, {"channel": "viber", "body": "Hello world"})

    [result] = provider.send([message])

    assert (result.outcome, result.provider_message_id) == ("accepted", "5741311803571721087")
    [(request, _)] = httpserver.log
    assert request.method == "POST" and request.path == "/pa/send_message"
    assert request.headers["X-Viber-Auth-Token"] == AUTH
    assert json.loads(request.get_data()) == {
        "receiver": RECEIVER, "min_api_version": 1, "type": "text", "text": "Hello world",
        "sender": {"name": "Shop Bot", "avatar": "https://example.com/avatar.jpg"},
        "tracking_data": message.message_key,
    }


def test_an_image_becomes_a_picture_and_a_button_a_keyboard_that_opens_its_url(viber, httpserver):
    httpserver.expect_request("/pa/send_message", method="POST").respond_with_json(OK)
    provider = viber()
    content = {"body": "New in", "image_url": "https://example.com/shoe.jpg",
               "button": {"text": "Shop", "url": "https://example.com/shop"}}

    [result] = provider.send([outgoing(provider, RECEIVER, content)])

    assert result.outcome == "accepted"
    body = json.loads(httpserver.log[0][0].get_data())
    assert (body["type"], body["media"], body["text"]) == ("picture", "https://example.com/shoe.jpg", "New in")
    assert body["keyboard"] == {"Type": "keyboard", "DefaultHeight": False, "Buttons": [
        {"Columns": 6, "Rows": 1, "ActionType": "open-url", "ActionBody": "https://example.com/shop", "Text": "Shop"}]}


def test_a_url_alone_is_a_url_message(viber, httpserver):
    httpserver.expect_request("/pa/send_message", method="POST").respond_with_json(OK)
    provider = viber()
    provider.send([outgoing(provider, RECEIVER, {"url": "https://example.com/sale"})])
    body = json.loads(httpserver.log[0][0].get_data())
    assert (body["type"], body["media"]) == ("url", "https://example.com/sale")


@pytest.mark.parametrize("answer, outcome, words", [
    ({"status": 6, "status_message": "notSubscribed"}, "permanent", "receiverNotSubscribed"),
    ({"status": 5, "status_message": "receiverNotRegistered"}, "permanent", "not registered"),
    ({"status": 12, "status_message": "Too many requests", "message_token": "1234567890",
      "chat_hostname": "SN-CHAT-0x_"}, "retryable", "tooManyRequests"),
    ({"status": 2, "status_message": "invalidAuthToken"}, "permanent", "auth token"),
    ({"status": 99, "status_message": "somethingNew"}, "permanent", "somethingNew"),
])
def test_documented_status_codes_become_retryable_or_permanent(viber, httpserver, answer, outcome, words):
    httpserver.expect_request("/pa/send_message", method="POST").respond_with_json(answer)
    provider = viber()
    [result] = provider.send([outgoing(provider, RECEIVER, {"body": "hi"})])
    assert result.outcome == outcome
    assert words in (result.reason or "")


def test_a_server_error_is_retryable_and_a_missing_address_permanent(viber, httpserver):
    httpserver.expect_request("/pa/send_message", method="POST").respond_with_data("oops", status=502)
    provider = viber()
    results = provider.send([outgoing(provider, RECEIVER, {"body": "hi"}), outgoing(provider, None, {"body": "hi"})])
    assert [r.outcome for r in results] == ["retryable", "permanent"]
    assert results[1].reason == "the profile has no viber address"
    assert len(httpserver.log) == 1


# ------------------------------------------------------------------------- callbacks
def signed(document: dict, token: str = AUTH) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(document).encode()
    return body, {"X-Viber-Content-Signature": hmac.new(token.encode(), body, hashlib.sha256).hexdigest()}


def at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=timezone.utc)


@pytest.mark.parametrize("event, status, reason", [
    ({"event": "delivered", "timestamp": 1457764197627, "message_token": 491266184665523145,
      "user_id": "01234567890A="}, "delivered", None),
    ({"event": "seen", "timestamp": 1457764197627, "message_token": 491266184665523145,
      "user_id": "01234567890A="}, "opened", None),
    ({"event": "failed", "timestamp": 1457764197627, "message_token": 491266184665523145,
      "user_id": "01234567890A=", "desc": "failure description"}, "failed", "failure description"),
])
def test_delivered_seen_and_failed_callbacks_become_receipts(viber, event, status, reason):
    body, headers = signed(event)
    result = viber().handle_callback(callback("POST", body, headers))
    assert result.receipts == [Receipt("491266184665523145", status, at(1457764197627), reason=reason,
                                       address="01234567890A=")]


def test_a_message_callback_becomes_an_inbound_message_from_the_sender(viber):
    body, headers = signed({
        "event": "message", "timestamp": 1457764197627, "message_token": 4912661846655238145,
        "sender": {"id": "01234567890A=", "name": "John McClane", "avatar": "http://avatar.example.com",
                   "country": "UK", "language": "en", "api_version": 1},
        "message": {"type": "text", "text": "a message to the service", "tracking_data": "tracking data"},
    })
    result = viber().handle_callback(callback("POST", body, headers))
    assert result.inbound == [InboundMessage(
        "viber", "01234567890A=", at(1457764197627), "a message to the service",
        {"event": "message", "type": "text", "tracking_data": "tracking data"}, "4912661846655238145")]


def test_conversation_started_and_subscribed_become_inbound_and_webhook_unsubscribed_nothing(viber):
    provider = viber()
    started, h1 = signed({"event": "conversation_started", "timestamp": 1457764197627,
                          "message_token": 4912661846655238145, "type": "open", "context": "context information",
                          "user": {"id": "01234567890A=", "name": "John McClane"}, "subscribed": False})
    subscribed, h2 = signed({"event": "subscribed", "timestamp": 1457764197627, "message_token": 4912661846655238145,
                             "user": {"id": "01234567890A=", "name": "John McClane"}})
    hook, h3 = signed({"event": "webhook", "timestamp": 1457764197627, "chat_hostname": "SN-2_",
                       "message_token": 241256543215})
    gone, h4 = signed({"event": "unsubscribed", "timestamp": 1457764197627, "user_id": "01234567890A=",
                       "message_token": 4912661846655238145})

    [first] = provider.handle_callback(callback("POST", started, h1)).inbound
    [second] = provider.handle_callback(callback("POST", subscribed, h2)).inbound

    assert (first.address, first.text, dict(first.payload)) == (
        "01234567890A=", None, {"event": "conversation_started", "type": "open", "context": "context information",
                                "subscribed": False})
    assert (second.address, dict(second.payload)) == ("01234567890A=", {"event": "subscribed"})
    for body, headers in ((hook, h3), (gone, h4)):
        result = provider.handle_callback(callback("POST", body, headers))
        assert (result.receipts, result.inbound) == ([], [])


def test_a_callback_without_or_with_a_wrong_signature_is_rejected(viber):
    body, _ = signed({"event": "delivered", "timestamp": 1, "message_token": 1})
    provider = viber()
    for headers in ({}, signed({"event": "delivered", "timestamp": 1, "message_token": 1}, "another-token")[1],
                    {"X-Viber-Content-Signature": "0" * 64}):
        with pytest.raises(CallbackRejected):
            provider.handle_callback(callback("POST", body, headers))


@pytest.mark.parametrize("document", [
    {"timestamp": 1}, {"event": "delivered"}, {"event": "delivered", "timestamp": 1},
    {"event": "message", "timestamp": 1, "sender": {"name": "x"}, "message": {"type": "text"}},
    {"event": "message", "timestamp": 1, "sender": {"id": "a"}},
    {"event": "seen", "timestamp": "yesterday", "message_token": 1},
])
def test_a_signed_callback_not_in_the_documented_shape_is_malformed(viber, document):
    body, headers = signed(document)
    with pytest.raises(CallbackMalformed):
        viber().handle_callback(callback("POST", body, headers))
