"""The generic HTTP SMS gateway: request, answer and receipt mappings are settings."""
from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import parse_qsl

import pytest

from chalicelib.errors import Invalid
from chalicelib.providers import http_sms
from chalicelib.providers.base import Callback, CallbackMalformed, CallbackRejected
from chalicelib.sending.providers_config import ProviderPut
from tests.providers.stub_config import make, outgoing

CREDS = {"token": "tok-1", "receipt_secret": "whsec"}
GATEWAY = {
    "url": "https://sms.example.cn/api/v2/send",
    "headers": {"Authorization": "Bearer {{ token }}", "X-Request-Id": "{{ message_id }}"},
    "body": {"mobile": "{{ to }}", "content": "{{ body }}", "extra": {"ref": "{{ message_id }}", "tags": ["mkt"]}},
    "id_path": "data.0.sid", "success_path": "code", "success_value": 0, "error_path": "msg",
    "receipt_id_path": "sid", "receipt_status_path": "state", "receipt_items_path": "reports",
    "receipt_status_map": {"DELIVRD": "delivered", "UNDELIV": "failed"}, "receipt_auth": "hmac_sha256",
}


def gateway(httpserver, **changes):
    return make("http_sms", "sms", {**GATEWAY, **changes}, CREDS, endpoint=httpserver.url_for("/"))


def test_the_request_is_rendered_from_the_settings_and_the_id_read_from_the_answer(httpserver):
    httpserver.expect_request("/api/v2/send", method="POST").respond_with_json(
        {"code": 0, "msg": "ok", "data": [{"sid": "g-77"}]})
    [result] = gateway(httpserver).send([outgoing(1, body="Hello \"you\" & 你好")])
    assert (result.outcome, result.provider_message_id) == ("accepted", "g-77")
    [(request, _)] = httpserver.log
    assert request.headers["Authorization"] == "Bearer tok-1"
    assert request.headers["X-Request-Id"] == "key-1"
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.get_data()) == {"mobile": "+8613800000000", "content": "Hello \"you\" & 你好",
                                              "extra": {"ref": "key-1", "tags": ["mkt"]}}


def test_a_form_encoded_gateway(httpserver):
    httpserver.expect_request("/api/v2/send", method="POST").respond_with_data("OK")
    provider = gateway(httpserver, encoding="form", body={"to": "{{ to }}", "text": "{{ body }}"},
                       success_status=[200])
    for key in ("id_path", "success_path", "success_value"):
        provider.config.settings.pop(key)
    [result] = provider.send([outgoing(1, body="Hi there")])
    assert (result.outcome, result.provider_message_id) == ("accepted", "key-1")
    assert dict(parse_qsl(httpserver.log[0][0].get_data(as_text=True))) == {"to": "+8613800000000", "text": "Hi there"}


def test_a_failed_success_condition_is_permanent_with_the_gateways_error(httpserver):
    httpserver.expect_request("/api/v2/send").respond_with_json({"code": 4001, "msg": "blacklisted number"})
    [result] = gateway(httpserver).send([outgoing(1, body="x")])
    assert result.outcome == "permanent" and "blacklisted number" in result.reason


@pytest.mark.parametrize("status", [429, 500, 503])
def test_throttling_and_server_errors_are_retryable(httpserver, status):
    httpserver.expect_request("/api/v2/send").respond_with_json({"msg": "busy"}, status=status)
    assert gateway(httpserver).send([outgoing(1, body="x")])[0].outcome == "retryable"


def test_a_template_naming_an_unknown_variable_fails_the_message_not_the_batch(httpserver):
    provider = gateway(httpserver, body={"to": "{{ to }}", "text": "{{ nope }}"})
    [result] = provider.send([outgoing(1, body="x")])
    assert result.outcome == "permanent" and "nope" in result.reason


# ------------------------------------------------------------------------------ settings at PUT time

def put(**settings):
    return ProviderPut(channel="sms", kind="http_sms", settings=settings)


def test_valid_gateway_settings_are_accepted():
    assert put(**GATEWAY).settings["url"] == GATEWAY["url"]


@pytest.mark.parametrize("change, field", [
    ({"method": "DELETE"}, "settings.method"),
    ({"encoding": "xml"}, "settings.encoding"),
    ({"body": {"to": "{{ to "}}, "settings.body.to"),
    ({"body": {"to": "{{ phone }}"}}, "settings.body.to"),
    ({"headers": {"A": "{{ token }"}}, "settings.headers.A"),
    ({"success_status": [200, 700]}, "settings.success_status"),
    ({"id_path": "data..id"}, "settings.id_path"),
    ({"receipt_status_map": {"DELIVRD": "read"}}, "settings.receipt_status_map.DELIVRD"),
    ({"receipt_auth": "none"}, "settings.receipt_auth"),
    ({"encoding": "form"}, "settings.body"),
])
def test_bad_gateway_settings_are_refused_in_words(change, field):
    with pytest.raises(Invalid) as refused:
        put(**{**GATEWAY, **change})
    fields = {e.field: e.message for e in refused.value.errors}
    assert field in fields, fields
    assert "Liquid" not in fields[field] or "template" in fields[field]


def test_receipts_without_a_check_are_refused():
    settings = {k: v for k, v in GATEWAY.items() if k != "receipt_auth"}
    with pytest.raises(Invalid):
        put(**settings)


# ------------------------------------------------------------------------------ receipts

RECEIPTS = {"reports": [{"sid": "g-77", "state": "DELIVRD"}, {"sid": "g-78", "state": "UNDELIV"},
                        {"sid": "g-79", "state": "ENROUTE"}]}


def signed(body: bytes, secret="whsec", header="x-signature", prefix="") -> Callback:
    signature = prefix + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return Callback("POST", "https://api.example.com/v1/receipts/main?ws=ws1", {header: signature}, {"ws": "ws1"}, body)


def test_signed_receipts_are_mapped_and_unmapped_states_skipped(httpserver):
    receipts = gateway(httpserver).handle_callback(signed(json.dumps(RECEIPTS).encode(), prefix="sha256=")).receipts
    assert [(r.provider_message_id, r.status) for r in receipts] == [("g-77", "delivered"), ("g-78", "failed")]


def test_a_badly_signed_receipt_is_rejected(httpserver):
    with pytest.raises(CallbackRejected):
        gateway(httpserver).handle_callback(signed(json.dumps(RECEIPTS).encode(), secret="other"))
    with pytest.raises(CallbackRejected):
        gateway(httpserver).handle_callback(signed(json.dumps(RECEIPTS).encode(), header="x-other"))


def test_a_token_checked_receipt(httpserver):
    provider = gateway(httpserver, receipt_auth="token")
    body = json.dumps(RECEIPTS).encode()
    ok = Callback("POST", "u", {}, {"ws": "ws1", "token": "whsec"}, body)
    assert len(provider.handle_callback(ok).receipts) == 2
    with pytest.raises(CallbackRejected):
        provider.handle_callback(Callback("POST", "u", {}, {"ws": "ws1", "token": "whsec2"}, body))


@pytest.mark.parametrize("body", [b"not json", json.dumps({"reports": [{"state": "DELIVRD"}]}).encode()])
def test_a_malformed_receipt_is_refused(httpserver, body):
    with pytest.raises(CallbackMalformed):
        gateway(httpserver).handle_callback(signed(body))


def test_the_endpoint_setting_replaces_the_gateways_host():
    assert http_sms._rebase("https://sms.example.cn/api/v2/send?x=1", "http://127.0.0.1:8080/base/") == \
        "http://127.0.0.1:8080/base/api/v2/send?x=1"
