"""POST /v1/receipts/{provider}: signed receipts are queued, applied once, and counted
once; anything that does not verify is a 401 and changes nothing."""
from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest

from chalicelib import clock, counters
from tests.receipts_support import (
    SES_TOPIC, SnsSigner, iso, put_sandbox, put_ses, receipts_body, sent_message, ses_event, ses_notification, signed,
    status_of,
)


def post(api, workspace_id, provider, body, headers):
    return api.post(f"/v1/receipts/{provider}?ws={workspace_id}", raw=body, headers=headers)


def test_a_signed_receipt_moves_the_message_and_counts_it(api, workspace, drain):
    secret = put_sandbox(api, workspace)
    key = sent_message(workspace.id, "sbx", "sbx-1")
    body = receipts_body({"provider_message_id": "sbx-1", "status": "delivered", "at": iso()})

    r = post(api, workspace.id, "sbx", body, signed(secret, body))
    queued_only = status_of(key)
    drain()

    assert r.status == 200 and r.body == b"ok"
    assert queued_only == "sent" and status_of(key) == "delivered"
    counted = counters.read(workspace.id, "task#t1")
    assert (counted["targeted"], counted["sent"], counted["delivered"], counted["cost"]) == (1, 1, 1, 0.01)


@pytest.mark.parametrize("tamper", ["signature", "body", "secret", "missing"])
def test_a_bad_signature_is_401_and_changes_nothing(api, workspace, drain, tamper):
    secret = put_sandbox(api, workspace)
    key = sent_message(workspace.id, "sbx", "sbx-1")
    body = receipts_body({"provider_message_id": "sbx-1", "status": "delivered", "at": iso()})
    headers = signed("not the secret" if tamper == "secret" else secret, body)
    if tamper == "signature":
        headers["X-MA-Signature"] = "v1=" + "0" * 64
    if tamper == "missing":
        del headers["X-MA-Signature"]
    sent_body = body.replace(b"delivered", b"clicked") if tamper == "body" else body

    r = post(api, workspace.id, "sbx", sent_body, headers)
    drain()

    assert r.status == 401 and r.content_type == "application/problem+json"
    assert status_of(key) == "sent" and counters.read(workspace.id, "task#t1")["delivered"] == 0


@pytest.mark.parametrize("skew", [-301, 301])
def test_a_stale_or_future_timestamp_is_401_and_changes_nothing(api, workspace, drain, skew, monkeypatch):
    frozen = clock.now()
    monkeypatch.setattr(clock, "now", lambda: frozen)  # no real second passes between signing and checking
    secret = put_sandbox(api, workspace)
    key = sent_message(workspace.id, "sbx", "sbx-1")
    body = receipts_body({"provider_message_id": "sbx-1", "status": "delivered", "at": iso()})

    r = post(api, workspace.id, "sbx", body, signed(secret, body, clock.now() + timedelta(seconds=skew)))
    drain()

    assert r.status == 401 and "300 seconds" in r.json["detail"]
    assert status_of(key) == "sent"


def test_duplicate_and_out_of_order_receipts_count_once(api, workspace, drain):
    secret = put_sandbox(api, workspace)
    key = sent_message(workspace.id, "sbx", "sbx-1")
    click = {"provider_message_id": "sbx-1", "status": "clicked", "at": iso(30), "url": "https://shop.example/a"}
    for receipts in ([{"provider_message_id": "sbx-1", "status": "opened", "at": iso(20)}],
                     [{"provider_message_id": "sbx-1", "status": "delivered", "at": iso(10)}],
                     [click, click],
                     [{"provider_message_id": "sbx-1", "status": "opened", "at": iso(20)}, click]):
        body = receipts_body(*receipts)
        assert post(api, workspace.id, "sbx", body, signed(secret, body)).status == 200
        drain()

    counted = counters.read(workspace.id, "task#t1")
    assert status_of(key) == "clicked"
    assert {k: counted[k] for k in ("sent", "delivered", "opened", "clicked", "unique_clicks")} == {
        "sent": 1, "delivered": 1, "opened": 1, "clicked": 1, "unique_clicks": 1}


def test_unknown_workspace_or_provider_is_404_and_a_malformed_body_is_400(api, workspace):
    secret = put_sandbox(api, workspace)
    body = receipts_body({"provider_message_id": "x", "status": "delivered", "at": iso()})
    bad = b'{"receipts": [{"provider_message_id": "x", "status": "teleported", "at": "now"}]}'

    assert post(api, "ws_nope", "sbx", body, signed(secret, body)).status == 404
    assert post(api, workspace.id, "nope", body, signed(secret, body)).status == 404
    assert api.post("/v1/receipts/sbx", raw=body, headers=signed(secret, body)).status == 400  # no ?ws=
    r = post(api, workspace.id, "sbx", bad, signed(secret, bad))
    assert r.status == 400 and "receipts.0.status" in r.json["errors"][0]["message"] + r.json.get("detail", "")


# --------------------------------------------------------------------------- SES through SNS


@pytest.fixture
def sns(httpserver, monkeypatch):
    """An SNS signer whose certificate is served locally; the test allows that host only."""
    from chalicelib.receipts import sns as sns_module

    signer = SnsSigner()
    path = f"/SimpleNotificationService-{uuid.uuid4().hex}.pem"  # one URL per certificate, as SNS does (cached by URL)
    httpserver.expect_request(path).respond_with_data(signer.pem)
    monkeypatch.setattr(sns_module, "cert_policy", sns_module.CertPolicy(
        schemes=frozenset({"http"}), host=re.compile(r"^(localhost|127\.0\.0\.1)$"),
        ports=frozenset({httpserver.port})))
    signer.cert_url = httpserver.url_for(path)
    return signer


@pytest.mark.parametrize("version", ["1", "2"])
def test_an_ses_delivery_signed_by_sns_is_applied(api, workspace, drain, sns, version):
    put_ses(api, workspace)
    key = sent_message(workspace.id, "mail", "ses-1", channel="email")
    message = sns.sign(ses_notification(sns.cert_url, ses_event(
        "Delivery", "ses-1", delivery={"timestamp": "2026-11-26T09:00:01.000Z"})), version)

    r = api.post(f"/v1/receipts/mail?ws={workspace.id}", raw=json.dumps(message).encode(),
                 headers={"Content-Type": "text/plain; charset=UTF-8", "x-amz-sns-message-type": "Notification"})
    drain()

    assert r.status == 200, r.json
    assert status_of(key) == "delivered"


def test_a_permanent_bounce_suppresses_the_address_and_a_transient_one_does_not(api, workspace, drain, sns):
    from chalicelib.sending import repo_fatigue

    put_ses(api, workspace)
    hard = sent_message(workspace.id, "mail", "ses-hard", channel="email", user_id="u1")
    soft = sent_message(workspace.id, "mail", "ses-soft", channel="email", user_id="u2")
    for message_id, bounce_type, address in (("ses-hard", "Permanent", "Ann@Example.com"),
                                             ("ses-soft", "Transient", "bob@example.com")):
        event = ses_event("Bounce", message_id, bounce={
            "bounceType": bounce_type, "bounceSubType": "General", "timestamp": "2026-11-26T09:00:02.000Z",
            "bouncedRecipients": [{"emailAddress": address, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]})
        message = sns.sign(ses_notification(sns.cert_url, event))
        assert api.post(f"/v1/receipts/mail?ws={workspace.id}", raw=json.dumps(message).encode(),
                        headers={"Content-Type": "text/plain"}).status == 200
    drain()

    assert status_of(hard) == "bounced" and status_of(soft) == "failed"
    assert repo_fatigue.suppression(workspace.id, "email", "ann@example.com").reasons == {"hard_bounce"}
    assert repo_fatigue.suppression(workspace.id, "email", "bob@example.com") is None
    counted = counters.read(workspace.id, "task#t1")
    assert (counted["failed"], counted["bounced"]) == (2, 1)


def test_a_certificate_on_another_host_is_401_and_never_fetched(api, workspace, drain, monkeypatch):
    from chalicelib.receipts import sns as sns_module

    fetched = []
    monkeypatch.setattr(sns_module, "fetch", lambda url: fetched.append(url) or b"")
    put_ses(api, workspace)
    key = sent_message(workspace.id, "mail", "ses-1", channel="email")
    signer = SnsSigner()
    for url in ("https://sns.us-east-1.amazonaws.com.evil.example/cert.pem",
                "https://sns.us-east-1.amazonaws.com@evil.example/cert.pem",
                "http://sns.us-east-1.amazonaws.com/cert.pem",
                "https://s3.amazonaws.com/cert.pem"):
        message = signer.sign(ses_notification(url, ses_event("Delivery", "ses-1")))
        r = api.post(f"/v1/receipts/mail?ws={workspace.id}", raw=json.dumps(message).encode(),
                     headers={"Content-Type": "text/plain"})
        assert r.status == 401, url
    drain()

    assert fetched == [] and status_of(key) == "sent"


def test_a_bad_sns_signature_or_another_topic_is_401(api, workspace, drain, sns):
    put_ses(api, workspace)
    key = sent_message(workspace.id, "mail", "ses-1", channel="email")
    forged = sns.sign(ses_notification(sns.cert_url, ses_event("Delivery", "ses-1")))
    forged["Message"] = json.dumps(ses_event("Complaint", "ses-1"))
    other_topic = sns.sign(ses_notification(sns.cert_url, ses_event("Delivery", "ses-1"),
                                            topic="arn:aws:sns:us-east-1:999999999999:theirs"))

    replies = [api.post(f"/v1/receipts/mail?ws={workspace.id}", raw=json.dumps(m).encode(),
                        headers={"Content-Type": "text/plain"}) for m in (forged, other_topic)]
    drain()

    assert [r.status for r in replies] == [401, 401]
    assert status_of(key) == "sent"


def test_a_subscription_confirmation_is_confirmed_by_fetching_its_url(api, workspace, sns, httpserver):
    put_ses(api, workspace)
    httpserver.expect_request("/confirm").respond_with_data("<ConfirmSubscriptionResponse/>")
    message = sns.sign({"Type": "SubscriptionConfirmation", "MessageId": "m-1", "Token": "tok", "TopicArn": SES_TOPIC,
                        "Message": "You have chosen to subscribe...", "SubscribeURL": httpserver.url_for("/confirm"),
                        "Timestamp": "2026-11-26T09:00:00.000Z", "SigningCertURL": sns.cert_url})

    r = api.post(f"/v1/receipts/mail?ws={workspace.id}", raw=json.dumps(message).encode(),
                 headers={"Content-Type": "text/plain", "x-amz-sns-message-type": "SubscriptionConfirmation"})

    assert r.status == 200 and r.body == b"subscribed"
    assert [req.path for req, _ in httpserver.log if req.path == "/confirm"] == ["/confirm"]


def test_a_webhook_account_without_a_signing_secret_refuses_receipts_in_words(api, workspace, drain):
    r = api.put("/v1/providers/hook", {"channel": "webhook", "kind": "webhook",
                                       "settings": {"url": "https://example.com/hook"}}, key=workspace.admin_key)
    assert r.status == 200, r.json
    body = receipts_body({"provider_message_id": "h-1", "status": "delivered", "at": iso()})

    reply = post(api, workspace.id, "hook", body, signed("anything", body))

    assert reply.status == 401 and "signing_secret" in reply.json["detail"]


def test_a_sandbox_account_gets_a_receipt_secret_once_and_keeps_it(api, workspace):
    first = put_sandbox(api, workspace)
    again = put_sandbox(api, workspace, open_rate=0.9)

    reply = api.get("/v1/providers/sbx", key=workspace.admin_key)
    assert first == again and len(first) == 64
    assert reply.json["credentials_set"] == ["receipt_secret"] and first not in reply.body.decode()
