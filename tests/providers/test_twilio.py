"""Twilio Messaging: the Create Message request, its answers, and signed status callbacks."""
from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlencode

import pytest
from werkzeug import Response

from chalicelib.providers import twilio
from chalicelib.providers.base import Callback, CallbackMalformed, CallbackRejected
from tests.providers.stub_config import make, outgoing

CREDS = {"account_sid": "ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "auth_token": "12345"}
PATH = "/2010-04-01/Accounts/ACXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX/Messages.json"
CREATED = {"sid": "SMXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX", "status": "queued", "to": "+14155552345",
           "from": "+14155551234", "body": "Hi", "error_code": None, "error_message": None}


def provider(httpserver=None, channel="sms", **settings):
    return make("twilio", channel, settings or {"from_number": "+14155551234"}, CREDS,
                endpoint=httpserver.url_for("/") if httpserver else None)


def sms(n=1, **content):
    return outgoing(n, to="+14155552345", body="Hi", **content)


def twilio_error(code, message, status=400):
    return {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status}


def test_the_documented_signature_example_is_reproduced():
    # Twilio's request validation example: auth token 12345, this URL and these POST parameters.
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234",
              "From": "+14158675309", "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert twilio.expected_signature("12345", url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def test_a_message_is_a_form_post_with_basic_auth_and_our_status_callback(httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_json(CREATED, status=201)
    [result] = provider(httpserver).send([sms()])
    assert (result.outcome, result.provider_message_id) == ("accepted", CREATED["sid"])
    [(request, _)] = httpserver.log
    expected_auth = base64.b64encode(f"{CREDS['account_sid']}:{CREDS['auth_token']}".encode()).decode()
    assert request.headers["Authorization"] == f"Basic {expected_auth}"
    assert request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(request.get_data(as_text=True))) == {
        "To": "+14155552345", "From": "+14155551234", "Body": "Hi",
        "StatusCallback": "http://127.0.0.1:8000/v1/receipts/main?ws=ws1"}


def test_a_messaging_service_replaces_the_from_number_and_whatsapp_numbers_are_prefixed(httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_json(CREATED, status=201)
    provider(httpserver, channel="whatsapp", messaging_service_sid="MGXXXX").send(
        [outgoing(1, channel="whatsapp", to="+14155552345", body="Hi")])
    form = dict(parse_qsl(httpserver.log[0][0].get_data(as_text=True)))
    assert form["To"] == "whatsapp:+14155552345" and form["MessagingServiceSid"] == "MGXXXX" and "From" not in form


def test_too_many_requests_is_retried_after_what_twilio_says(httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_response(Response(
        '{"code": 20429, "message": "Too Many Requests", "status": 429}', status=429,
        headers={"Retry-After": "3"}, content_type="application/json"))
    [result] = provider(httpserver).send([sms()])
    assert (result.outcome, result.retry_after) == ("retryable", 3.0)


def test_an_invalid_number_fails_permanently(httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_json(
        twilio_error(21211, "The 'To' number +1415 is not a valid phone number."), status=400)
    [result] = provider(httpserver).send([sms()])
    assert result.outcome == "permanent" and "21211" in result.reason


def test_an_unsubscribed_number_fails_permanently_and_is_suppressed(httpserver, aws_backend):
    from chalicelib.sending import repo_fatigue

    httpserver.expect_request(PATH, method="POST").respond_with_json(
        twilio_error(21610, "Attempt to send to unsubscribed recipient"), status=400)
    message = outgoing(1, workspace_id="ws-twilio-21610", to="+14155552345", body="Hi")
    [result] = provider(httpserver).send([message])
    assert result.outcome == "permanent" and result.reason.startswith("unsubscribed")
    found = repo_fatigue.suppression("ws-twilio-21610", "sms", "+14155552345")
    assert found is not None and "unsubscribe" in found.reasons


def test_server_errors_are_retryable(httpserver):
    httpserver.expect_request(PATH, method="POST").respond_with_data("oops", status=500)
    assert provider(httpserver).send([sms()])[0].outcome == "retryable"


# ------------------------------------------------------------------------------ status callbacks

URL = "https://api.example.com/v1/receipts/main?ws=ws1"


def status_callback(params, token="12345", url=URL, signature=None) -> Callback:
    data = url + "".join(k + params[k] for k in sorted(params))
    signed = base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()
    headers = {} if signature == "" else {"x-twilio-signature": signed if signature is None else signature}
    return Callback(method="POST", url=url, headers=headers,
                    query={"ws": "ws1"}, body=urlencode(params).encode())


BASE = {"AccountSid": CREDS["account_sid"], "MessageSid": CREATED["sid"], "SmsSid": CREATED["sid"],
        "From": "+14155551234", "To": "+14155552345", "ApiVersion": "2010-04-01"}


@pytest.mark.parametrize("status, expected", [("delivered", "delivered"), ("undelivered", "failed"),
                                              ("failed", "failed")])
def test_a_signed_status_callback_becomes_a_receipt(status, expected):
    params = {**BASE, "MessageStatus": status, "SmsStatus": status,
              **({"ErrorCode": "30003"} if expected == "failed" else {})}
    [receipt] = provider().handle_callback(status_callback(params)).receipts
    assert (receipt.provider_message_id, receipt.status, receipt.address) == (CREATED["sid"], expected, "+14155552345")
    if expected == "failed":
        assert "30003" in receipt.reason


def test_intermediate_states_make_no_receipt():
    assert provider().handle_callback(status_callback({**BASE, "MessageStatus": "sent"})).receipts == []


@pytest.mark.parametrize("tamper", ["token", "url", "signature", "missing", "body"])
def test_a_badly_signed_callback_is_rejected(tamper):
    params = {**BASE, "MessageStatus": "delivered"}
    if tamper == "token":
        callback = status_callback(params, token="other")
    elif tamper == "url":
        callback = status_callback(params, url=URL.replace("ws1", "ws2"))
        callback = Callback(callback.method, URL, callback.headers, callback.query, callback.body)
    elif tamper == "signature":
        callback = status_callback(params, signature="RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    elif tamper == "missing":
        callback = status_callback(params, signature="")
    else:
        good = status_callback(params)
        callback = Callback(good.method, good.url, good.headers, good.query,
                            good.body.replace(b"delivered", b"undelivered"))
    with pytest.raises(CallbackRejected):
        provider().handle_callback(callback)


def test_a_signed_callback_without_a_status_is_malformed():
    with pytest.raises(CallbackMalformed):
        provider().handle_callback(status_callback({"AccountSid": "AC1"}))
