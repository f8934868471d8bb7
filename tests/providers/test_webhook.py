"""The webhook adapter against a local HTTP server (pytest-httpserver): what it posts,
how it signs, and how each answer becomes a result."""
from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug import Request, Response

from chalicelib import aws, clock
from chalicelib.providers import signing
from chalicelib.providers.base import Outgoing, ProviderConfig, build
from chalicelib.providers.webhook import WebhookProvider, target_url
from devstack.kafka import free_port

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
SECRET = "whsec-test-0123456789"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def webhook(aws_backend, httpserver):
    """A webhook provider posting to the local server's /hooks/ma, its secret stored."""
    def make(*, secret: str | None = SECRET, **settings) -> WebhookProvider:
        config = ProviderConfig("ws_" + uuid.uuid4().hex[:12], "hooks", "webhook", "webhook",
                                {"url": httpserver.url_for("/hooks/ma"), **settings})
        if secret is not None:
            aws.secretsmanager().create_secret(Name=config.secret_id(), SecretString=json.dumps({"signing_secret": secret}))
        provider = build(config)
        assert isinstance(provider, WebhookProvider)
        return provider
    return make


def outgoing(user_id: str = "u1", **content) -> Outgoing:
    return Outgoing(workspace_id="ws_x", message_key=f"ws_x#task#tsk_1#03|user#{user_id}",
                    idempotency_key=f"idem-{user_id}", user_id=user_id, channel="webhook",
                    to=None, content=content or {"event": "cart_reminder", "items": 2})


def test_a_message_is_posted_as_signed_json_with_its_idempotency_key(webhook, httpserver):
    httpserver.expect_request("/hooks/ma", method="POST").respond_with_json({"id": "evt_81"})
    message = outgoing(event="cart_reminder", text="Ni hao ✓")

    [result] = webhook().send([message])

    assert (result.outcome, result.provider_message_id) == ("accepted", "evt_81")
    [(request, _)] = httpserver.log
    body = request.get_data()
    assert json.loads(body) == {
        "message_key": "ws_x#task#tsk_1#03|user#u1", "idempotency_key": "idem-u1", "user_id": "u1",
        "channel": "webhook", "to": None, "content": {"event": "cart_reminder", "text": "Ni hao ✓"},
    }
    timestamp = str(int(NOW.timestamp()))
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-MA-Timestamp"] == timestamp
    assert request.headers["Idempotency-Key"] == "idem-u1"
    import hashlib
    import hmac
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    assert request.headers["X-MA-Signature"] == f"v1={expected}"
    assert signing.verify(SECRET, timestamp, body, request.headers["X-MA-Signature"], now=NOW)


def test_an_answer_without_an_id_is_known_by_the_idempotency_key(webhook, httpserver):
    httpserver.expect_request("/hooks/ma").respond_with_data("", status=204)

    [result] = webhook().send([outgoing("u7")])

    assert (result.outcome, result.provider_message_id) == ("accepted", "idem-u7")


def test_each_message_of_a_batch_is_its_own_request_and_result(webhook, httpserver):
    def answer(request: Request) -> Response:
        user = json.loads(request.get_data())["user_id"]
        return Response(status=400 if user == "u2" else 200, response=json.dumps({"id": f"id-{user}"}))

    httpserver.expect_request("/hooks/ma").respond_with_handler(answer)

    results = webhook().send([outgoing(f"u{i}") for i in range(5)])

    assert [r.outcome for r in results] == ["accepted", "accepted", "permanent", "accepted", "accepted"]
    assert [r.provider_message_id for r in results] == ["id-u0", "id-u1", None, "id-u3", "id-u4"]
    assert len(httpserver.log) == 5


def test_a_429_is_retryable_after_the_seconds_the_webhook_asks(webhook, httpserver):
    httpserver.expect_request("/hooks/ma").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})

    [result] = webhook().send([outgoing()])

    assert (result.outcome, result.retry_after, result.reason) == ("retryable", 7.0, "webhook answered 429")


def test_a_retry_after_given_as_an_http_date_counts_from_now(webhook, httpserver):
    later = (NOW + timedelta(seconds=120)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    httpserver.expect_request("/hooks/ma").respond_with_data("", status=503, headers={"Retry-After": later})

    [result] = webhook().send([outgoing()])

    assert (result.outcome, result.retry_after) == ("retryable", 120.0)


def test_a_server_error_is_retryable(webhook, httpserver):
    httpserver.expect_request("/hooks/ma").respond_with_data("upstream down", status=500)

    [result] = webhook().send([outgoing()])

    assert (result.outcome, result.reason, result.retry_after) == ("retryable", "webhook answered 500", None)


def test_a_client_error_is_permanent_with_the_status_and_the_start_of_the_answer(webhook, httpserver):
    httpserver.expect_request("/hooks/ma").respond_with_data(
        '{"error":  "unknown\n event"}' + " x" * 300, status=400)

    [result] = webhook().send([outgoing()])

    assert result.outcome == "permanent"
    assert result.reason is not None and result.reason.startswith('webhook answered 400: {"error": "unknown event"} x x')
    assert len(result.reason) < 260 and result.reason.endswith("…")


def test_a_redirect_is_not_followed_and_fails_the_message(webhook, httpserver):
    httpserver.expect_request("/hooks/ma").respond_with_data("", status=301, headers={"Location": "http://example.com/"})

    [result] = webhook().send([outgoing()])

    assert (result.outcome, result.reason) == ("permanent", "webhook answered 301")


def test_a_webhook_that_does_not_answer_in_time_is_retryable(webhook, httpserver):
    def slow(request: Request) -> Response:
        time.sleep(1.0)
        return Response("late")

    httpserver.expect_request("/hooks/ma").respond_with_handler(slow)

    [result] = webhook(timeout_seconds=0.2).send([outgoing()])

    assert (result.outcome, result.reason) == ("retryable", "webhook did not answer within 0.2 s")


def test_a_webhook_nobody_listens_on_is_retryable(webhook):
    provider = webhook(url=f"http://127.0.0.1:{free_port()}/hooks/ma")

    [result] = provider.send([outgoing()])

    assert (result.outcome, result.reason) == ("retryable", "could not connect to the webhook")


def test_without_a_stored_signing_secret_nothing_is_posted_and_the_messages_fail(webhook, httpserver):
    results = webhook(secret=None).send([outgoing("u1"), outgoing("u2")])

    assert {(r.outcome, r.reason) for r in results} == {
        ("permanent", "the webhook provider has no stored credentials (signing_secret)")}
    assert httpserver.log == []


def test_the_endpoint_setting_replaces_the_urls_scheme_and_host(webhook, httpserver):
    httpserver.expect_request("/hooks/ma", query_string="tenant=7").respond_with_json({"id": "via-gateway"})
    provider = webhook(url="https://hooks.example.com/hooks/ma?tenant=7", endpoint=httpserver.url_for("/"))

    [result] = provider.send([outgoing()])

    assert (result.outcome, result.provider_message_id) == ("accepted", "via-gateway")


@pytest.mark.parametrize("url, endpoint, expected", [
    ("https://h.example.com/a/b?x=1", None, "https://h.example.com/a/b?x=1"),
    ("https://h.example.com/a/b?x=1", "http://gw.local:9000/", "http://gw.local:9000/a/b?x=1"),
    ("https://h.example.com", "http://gw.local:9000", "http://gw.local:9000"),
])
def test_target_url(url, endpoint, expected):
    assert target_url({"url": url, "endpoint": endpoint}) == expected


# --- the signature scheme, shared with the receipts route ------------------------------------

def test_a_signature_verifies_within_the_window_either_side():
    body = b'{"status":"delivered"}'
    stamp = str(int(NOW.timestamp()))
    signature = signing.sign(SECRET, stamp, body)

    assert signing.verify(SECRET, stamp, body, signature, now=NOW + timedelta(seconds=300))
    assert signing.verify(SECRET, stamp, body, signature, now=NOW - timedelta(seconds=300))
    assert not signing.verify(SECRET, stamp, body, signature, now=NOW + timedelta(seconds=301))


@pytest.mark.parametrize("secret, stamp_shift, body, signature", [
    ("another-secret", 0, b"{}", None),
    (SECRET, 0, b'{"tampered":true}', None),
    (SECRET, 1, b"{}", None),                 # the signature of another timestamp
    (SECRET, 0, b"{}", "v1=" + "0" * 64),
    (SECRET, 0, b"{}", ""),
    (SECRET, 0, b"{}", "v0=abc"),
])
def test_a_signature_of_anything_else_does_not_verify(secret, stamp_shift, body, signature):
    stamp = int(NOW.timestamp())
    good = signing.sign(SECRET, stamp, b"{}")

    assert not signing.verify(secret, stamp + stamp_shift, body, good if signature is None else signature, now=NOW)


@pytest.mark.parametrize("stamp", [None, "", "soon", "1.5"])
def test_a_missing_or_unreadable_timestamp_does_not_verify(stamp):
    assert not signing.verify(SECRET, stamp, b"{}", signing.sign(SECRET, str(stamp), b"{}"), now=NOW)


def test_any_of_several_signatures_verifies_while_a_secret_is_rotated():
    stamp = int(NOW.timestamp())
    both = signing.sign("old-secret", stamp, b"{}") + ", " + signing.sign(SECRET, stamp, b"{}")

    assert signing.verify(SECRET, stamp, b"{}", both, now=NOW)
    assert signing.verify("old-secret", stamp, b"{}", both, now=NOW)


def test_through_the_sender_a_webhook_message_is_sent_once_and_recorded_with_the_answers_id(app, httpserver):
    from devstack.lambda_shapes import FakeContext
    from chalicelib.models.messages import MessageItem
    from chalicelib.sending.messages import MessageKey

    ws = "ws_" + uuid.uuid4().hex[:12]
    config = ProviderConfig(ws, "hooks", "webhook", "webhook", {})
    aws.secretsmanager().create_secret(Name=config.secret_id(), SecretString=json.dumps({"signing_secret": SECRET}))
    httpserver.expect_request("/hooks/ma").respond_with_json({"id": "evt_9"})
    body = {"type": "send", "workspace_id": ws, "channel": "webhook", "task_id": "tsk_1",
            "provider": {"name": "hooks", "kind": "webhook", "settings": {"url": httpserver.url_for("/hooks/ma")}},
            "recipients": [{"user_id": "u1", "content": {"event": "welcome"}}]}
    record = {"messageId": "m-1", "receiptHandle": "rh", "body": json.dumps(body),
              "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}}

    for _ in range(2):  # a redelivery finds the message sent
        assert app.handler_map["on_sends"]({"Records": [record]}, FakeContext("on_sends")) == {"batchItemFailures": []}

    key = MessageKey(ws, "u1", task_id="tsk_1")
    item = MessageItem.get(key.pk, key.sk, consistent_read=True)
    assert (item.status, item.provider_message_id) == ("sent", "evt_9")
    [(request, _)] = httpserver.log
    assert request.headers["Idempotency-Key"] == key.idempotency_key
    assert json.loads(request.get_data())["message_key"] == str(key)
