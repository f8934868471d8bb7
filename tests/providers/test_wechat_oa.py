"""The WeChat Official Account adapter against a local server: the access token (fetched
once, shared through DynamoDB by concurrent invocations, refreshed once on 40001),
template, customer-service and mass messages as documented, the 48-hour window, error
codes, and the server callbacks (signature, verification, XML messages and events)."""
from __future__ import annotations

import hashlib
import json
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from werkzeug import Request, Response

from chalicelib import clock
from chalicelib.providers import repo_tokens, wechat_oa
from chalicelib.providers.base import CallbackMalformed, CallbackRejected, InboundMessage, Receipt
from chalicelib.sending import repo_service_window
from tests.providers.chat_helpers import callback, make_provider, outgoing

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
APP_ID, APP_SECRET, SERVER_TOKEN = "wx1234567890abcdef", "app-secret-xyz", "server-token-42"
OPENID = "oDF3iY9ffA-hqb2vVvbr7qxf6A0Q"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)
    wechat_oa.forget_tokens()
    yield
    wechat_oa.forget_tokens()


class TokenServer:
    """The stable_token endpoint: counts calls, answers TOKEN1 then (force_refresh) TOKEN2."""

    def __init__(self, delay: float = 0.0):
        self.calls: list[dict] = []
        self.delay = delay
        self.lock = threading.Lock()

    def __call__(self, request: Request) -> Response:
        body = json.loads(request.get_data())
        with self.lock:
            self.calls.append(body)
        time.sleep(self.delay)
        token = "TOKEN2" if body.get("force_refresh") else "TOKEN1"
        return Response(json.dumps({"access_token": token, "expires_in": 7200}), content_type="application/json")


@pytest.fixture
def wechat(aws_backend, httpserver):
    def make(channel="wechat_template", credentials=None, tokens: TokenServer | None = None, **settings):
        server = tokens or TokenServer()
        httpserver.expect_request("/cgi-bin/stable_token", method="POST").respond_with_handler(server)
        creds = {"app_secret": APP_SECRET, "token": SERVER_TOKEN} if credentials is None else credentials
        provider = make_provider(httpserver, "wechat_oa", channel, {"app_id": APP_ID, **settings}, creds or None)
        provider.tokens = server  # type: ignore[attr-defined]
        return provider
    return make


def template_message(provider, to=OPENID, user_id="u1"):
    return outgoing(provider, to, {"channel": "wechat_template", "external_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
                                   "data": {"thing1": "巧克力", "amount2": "39.8元"}, "url": "http://weixin.qq.com/download"},
                    user_id=user_id)


def requests_to(httpserver, path):
    return [r for r, _ in httpserver.log if r.path == path]


def test_a_template_message_gets_a_token_then_posts_the_template_with_keyword_data(wechat, httpserver):
    httpserver.expect_request("/cgi-bin/message/template/send", method="POST").respond_with_json(
        {"errcode": 0, "errmsg": "ok", "msgid": 200228332})
    provider = wechat()
    message = template_message(provider)

    [result] = provider.send([message])

    assert (result.outcome, result.provider_message_id) == ("accepted", "200228332")
    assert provider.tokens.calls == [{"grant_type": "client_credential", "appid": APP_ID, "secret": APP_SECRET,
                                      "force_refresh": False}]
    [request] = requests_to(httpserver, "/cgi-bin/message/template/send")
    assert request.method == "POST" and request.args.to_dict() == {"access_token": "TOKEN1"}
    assert request.headers["Content-Type"] == "application/json; charset=utf-8"
    assert "巧克力" in request.get_data().decode()  # UTF-8, not \\u escapes
    assert json.loads(request.get_data()) == {
        "touser": OPENID, "template_id": "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
        "url": "http://weixin.qq.com/download", "client_msg_id": "idem-u1",
        "data": {"thing1": {"value": "巧克力"}, "amount2": {"value": "39.8元"}},
    }
    stored = repo_tokens.read(provider.config.workspace_id, provider.config.name)
    assert (stored.token, stored.expires_at) == ("TOKEN1", int(NOW.timestamp()) + 7200)


def test_the_token_is_reused_by_a_later_invocation_through_dynamodb(wechat, httpserver):
    httpserver.expect_request("/cgi-bin/message/template/send").respond_with_json({"errcode": 0, "msgid": 1})
    provider = wechat()
    provider.send([template_message(provider)])
    wechat_oa.forget_tokens()  # a new process

    provider.send([template_message(provider)])

    assert len(provider.tokens.calls) == 1
    assert [r.args["access_token"] for r in requests_to(httpserver, "/cgi-bin/message/template/send")] == \
        ["TOKEN1", "TOKEN1"]


def test_two_concurrent_invocations_fetch_the_token_once(wechat, monkeypatch):
    provider = wechat(tokens=TokenServer(delay=0.5))
    found: list[str] = []
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)
    monkeypatch.setattr(wechat_oa, "_wait", wait)

    def invocation():
        found.append(wechat_oa.Tokens(provider, APP_ID, APP_SECRET).current())

    threads = [threading.Thread(target=invocation) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert found == ["TOKEN1", "TOKEN1"]
    assert len(provider.tokens.calls) == 1
    assert waits  # the second invocation waited for the first one's token


def test_an_expired_token_answer_refreshes_the_token_once_and_retries_the_call(wechat, httpserver):
    def template_send(request: Request) -> Response:
        ok = request.args["access_token"] == "TOKEN2"
        answer = {"errcode": 0, "errmsg": "ok", "msgid": 7} if ok else \
            {"errcode": 40001, "errmsg": "invalid credential, access_token is invalid or not latest"}
        return Response(json.dumps(answer), content_type="application/json")
    httpserver.expect_request("/cgi-bin/message/template/send").respond_with_handler(template_send)
    provider = wechat()

    results = provider.send([template_message(provider, user_id=f"u{i}") for i in range(3)])

    assert [r.outcome for r in results] == ["accepted"] * 3
    assert [c["force_refresh"] for c in provider.tokens.calls] == [False, True]
    assert repo_tokens.read(provider.config.workspace_id, provider.config.name).token == "TOKEN2"


def test_a_token_refused_again_after_the_refresh_is_not_refreshed_twice(wechat, httpserver):
    httpserver.expect_request("/cgi-bin/message/template/send").respond_with_json(
        {"errcode": 42001, "errmsg": "access_token expired"})
    provider = wechat()

    [result] = provider.send([template_message(provider)])

    assert result.outcome == "retryable"
    assert "even after a refresh" in (result.reason or "")
    assert len(provider.tokens.calls) == 2
    assert len(requests_to(httpserver, "/cgi-bin/message/template/send")) == 2


def test_a_token_the_provider_refuses_fails_every_message_with_the_reason(wechat, httpserver):
    tokens = TokenServer()
    httpserver.expect_request("/cgi-bin/stable_token").respond_with_json({"errcode": 40125, "errmsg": "invalid appsecret"})
    provider = wechat(tokens=tokens)  # the first expectation answers first
    results = provider.send([template_message(provider), template_message(provider, user_id="u2")])
    assert [r.outcome for r in results] == ["permanent", "permanent"]
    assert "AppSecret is not valid" in (results[0].reason or "")
    assert requests_to(httpserver, "/cgi-bin/message/template/send") == []


@pytest.mark.parametrize("answer, outcome, words", [
    ({"errcode": 45009, "errmsg": "reach max api daily quota limit"}, "retryable", "daily call quota"),
    ({"errcode": -1, "errmsg": "system error"}, "retryable", "busy"),
    ({"errcode": 40003, "errmsg": "invalid openid"}, "permanent", "openid is not valid"),
    ({"errcode": 43004, "errmsg": "require subscribe"}, "permanent", "does not follow"),
    ({"errcode": 40037, "errmsg": "invalid template_id"}, "permanent", "template_id"),
])
def test_documented_error_codes_become_retryable_or_permanent(wechat, httpserver, answer, outcome, words):
    httpserver.expect_request("/cgi-bin/message/template/send").respond_with_json(answer)
    provider = wechat()
    [result] = provider.send([template_message(provider)])
    assert result.outcome == outcome
    assert words in (result.reason or "")
    assert f"WeChat error {answer['errcode']}" in (result.reason or "")


def test_customer_service_messages_go_only_inside_the_48_hour_window(wechat, httpserver):
    httpserver.expect_request("/cgi-bin/message/custom/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    provider = wechat(channel="wechat")
    ws = provider.config.workspace_id
    repo_service_window.touch(ws, "wechat", "open-1", NOW - timedelta(hours=47))
    repo_service_window.touch(ws, "wechat", "open-2", NOW - timedelta(hours=49))

    results = provider.send([outgoing(provider, "open-1", {"channel": "wechat", "body": "Hello"}, user_id="u1"),
                             outgoing(provider, "open-2", {"channel": "wechat", "body": "Hello"}, user_id="u2")])

    assert [r.outcome for r in results] == ["accepted", "permanent"]
    assert results[0].provider_message_id == "idem-u1"
    assert results[1].reason == "outside the 48-hour customer-service window"
    [request] = requests_to(httpserver, "/cgi-bin/message/custom/send")
    assert json.loads(request.get_data()) == {"touser": "open-1", "msgtype": "text", "text": {"content": "Hello"}}


def test_a_mini_program_card_is_a_customer_service_message(wechat, httpserver):
    httpserver.expect_request("/cgi-bin/message/custom/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    provider = wechat(channel="wechat")
    repo_service_window.touch(provider.config.workspace_id, "wechat", OPENID, NOW - timedelta(hours=1))
    content = {"msgtype": "miniprogrampage", "title": "Title", "appid": "wxappid", "pagepath": "pages/index",
               "thumb_media_id": "MEDIA"}
    [result] = provider.send([outgoing(provider, OPENID, content)])
    assert result.outcome == "accepted"
    [request] = requests_to(httpserver, "/cgi-bin/message/custom/send")
    assert json.loads(request.get_data()) == {"touser": OPENID, "msgtype": "miniprogrampage", "miniprogrampage": {
        "title": "Title", "appid": "wxappid", "pagepath": "pages/index", "thumb_media_id": "MEDIA"}}


def test_mass_mode_sends_one_mass_message_to_the_openid_list_of_the_same_content(wechat, httpserver):
    httpserver.expect_request("/cgi-bin/message/mass/send").respond_with_json(
        {"errcode": 0, "errmsg": "send job submission success", "msg_id": 34182, "msg_data_id": 206227730})
    httpserver.expect_request("/cgi-bin/message/custom/send").respond_with_json({"errcode": 0, "errmsg": "ok"})
    provider = wechat(channel="wechat", send_mode="mass")
    repo_service_window.touch(provider.config.workspace_id, "wechat", "lone", NOW - timedelta(hours=1))
    news = {"channel": "wechat", "msgtype": "mpnews", "media_id": "123dsdajkasd231jhksad"}
    batch = [outgoing(provider, f"open-{i}", news, user_id=f"u{i}") for i in range(3)]
    batch.append(outgoing(provider, "lone", {"channel": "wechat", "body": "Just you"}, user_id="u9"))

    results = provider.send(batch)

    assert [(r.outcome, r.provider_message_id) for r in results] == [("accepted", "34182")] * 3 + [("accepted", "idem-u9")]
    [request] = requests_to(httpserver, "/cgi-bin/message/mass/send")
    body = json.loads(request.get_data())
    expected_id = hashlib.sha256("idem-u0|idem-u1|idem-u2".encode()).hexdigest()[:64]
    assert body == {"touser": ["open-0", "open-1", "open-2"], "msgtype": "mpnews",
                    "mpnews": {"media_id": "123dsdajkasd231jhksad"}, "send_ignore_reprint": 0,
                    "clientmsgid": expected_id}
    assert len(requests_to(httpserver, "/cgi-bin/message/custom/send")) == 1


# --------------------------------------------------------------------------- callbacks
def signed_query(timestamp="1409304348", nonce="1506683915", token=SERVER_TOKEN, **extra):
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": timestamp, "nonce": nonce, **extra}


def test_the_server_verification_is_answered_with_echostr(wechat):
    result = wechat().handle_callback(callback("GET", query=signed_query(echostr="5838479218127813673")))
    assert result.reply == (200, "5838479218127813673", "text/plain")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_request_signed_with_another_token_is_rejected(wechat, method):
    with pytest.raises(CallbackRejected):
        wechat().handle_callback(callback(method, b"<xml></xml>", query=signed_query(token="guess", echostr="1")))
    with pytest.raises(CallbackRejected):
        wechat().handle_callback(callback(method, b"<xml></xml>", query={"timestamp": "1", "nonce": "2"}))


def xml(**fields: str) -> bytes:
    inner = "".join(f"<{k}><![CDATA[{v}]]></{k}>" if not v.isdigit() else f"<{k}>{v}</{k}>" for k, v in fields.items())
    return f"<xml>{inner}</xml>".encode()


def test_a_text_message_becomes_an_inbound_message_from_its_openid(wechat):
    body = xml(ToUserName="gh_123", FromUserName=OPENID, CreateTime="1348831860", MsgType="text",
               Content="this is a test", MsgId="1234567890123456")
    result = wechat().handle_callback(callback("POST", body, query=signed_query()))
    assert result.inbound == [InboundMessage("wechat", OPENID, datetime.fromtimestamp(1348831860, tz=timezone.utc),
                                             "this is a test", {"msg_type": "text"}, "1234567890123456")]
    assert result.reply == (200, "success", "text/plain")


def test_subscribe_and_menu_click_events_become_inbound_messages(wechat):
    provider = wechat()
    subscribe = xml(ToUserName="gh_123", FromUserName=OPENID, CreateTime="123456789", MsgType="event", Event="subscribe")
    click = xml(ToUserName="gh_123", FromUserName=OPENID, CreateTime="123456789", MsgType="event", Event="CLICK",
                EventKey="V1001_TODAY_MUSIC")
    [first] = provider.handle_callback(callback("POST", subscribe, query=signed_query())).inbound
    [second] = provider.handle_callback(callback("POST", click, query=signed_query())).inbound
    assert (first.address, dict(first.payload)) == (OPENID, {"event": "subscribe"})
    assert dict(second.payload) == {"event": "click", "key": "V1001_TODAY_MUSIC"}


@pytest.mark.parametrize("event, status, outcome, reason", [
    ("TEMPLATESENDJOBFINISH", "success", "delivered", None),
    ("TEMPLATESENDJOBFINISH", "failed:user block", "failed", "the user refused the account's messages"),
    ("TEMPLATESENDJOBFINISH", "failed: system failed", "failed", "WeChat could not deliver it"),
    ("MASSSENDJOBFINISH", "send success", "delivered", None),
    ("MASSSENDJOBFINISH", "err(10001)", "failed", "mass send finished: err(10001) (TotalCount 100, SentCount 0, "
                                                  "ErrorCount 100)"),
])
def test_template_and_mass_send_job_events_become_receipts(wechat, event, status, outcome, reason):
    body = xml(ToUserName="gh_7f083739789a", FromUserName=OPENID, CreateTime="1395658920", MsgType="event",
               Event=event, MsgID="200163836", Status=status, TotalCount="100", SentCount="0", ErrorCount="100")
    result = wechat().handle_callback(callback("POST", body, query=signed_query()))
    assert result.receipts == [Receipt("200163836", outcome, datetime.fromtimestamp(1395658920, tz=timezone.utc),
                                       reason=reason, address=OPENID)]


@pytest.mark.parametrize("body, query", [
    (b"not xml", {}),
    (b"<root><MsgType>text</MsgType></root>", {}),
    (xml(MsgType="text", Content="no sender"), {}),
    (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><xml><MsgType>&a;</MsgType></xml>', {}),
    (xml(FromUserName=OPENID, CreateTime="1", MsgType="event", Event="TEMPLATESENDJOBFINISH", Status="success"), {}),
])
def test_a_signed_post_not_in_the_documented_plaintext_shape_is_malformed(wechat, body, query):
    with pytest.raises(CallbackMalformed):
        wechat().handle_callback(callback("POST", body, query=signed_query(**query)))


def test_a_stored_token_about_to_expire_is_replaced_without_waiting_for_a_lease(wechat, httpserver, monkeypatch):
    httpserver.expect_request("/cgi-bin/message/template/send").respond_with_json({"errcode": 0, "msgid": 1})
    provider = wechat()
    repo_tokens.store(provider.config.workspace_id, provider.config.name, "OLD", int(NOW.timestamp()) + 60)
    waits: list[float] = []
    monkeypatch.setattr(wechat_oa, "_wait", waits.append)

    [result] = provider.send([template_message(provider)])

    assert result.outcome == "accepted"
    assert waits == []  # it took the lease at once
    assert len(provider.tokens.calls) == 1
    assert requests_to(httpserver, "/cgi-bin/message/template/send")[0].args["access_token"] == "TOKEN1"


# --------------------------------------------------------------------------- safe (AES) mode
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"  # 43 characters, as WeChat's console makes them


def wechat_encrypt(message: bytes, app_id: str = APP_ID) -> str:
    """WeChat's safe-mode encryption, written from its documentation in the test."""
    import base64
    import os

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = base64.b64decode(AES_KEY + "=")
    plain = os.urandom(16) + len(message).to_bytes(4, "big") + message + app_id.encode()
    pad = 32 - len(plain) % 32
    plain += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode()


def safe_query(encrypted: str, token: str = SERVER_TOKEN) -> dict[str, str]:
    query = signed_query(encrypt_type="aes")
    query["msg_signature"] = hashlib.sha1("".join(sorted([token, query["timestamp"], query["nonce"],
                                                          encrypted])).encode()).hexdigest()
    return query


def test_a_safe_mode_message_is_decrypted_with_the_encoding_aes_key(wechat):
    provider = wechat(credentials={"app_secret": APP_SECRET, "token": SERVER_TOKEN, "encoding_aes_key": AES_KEY})
    inner = xml(ToUserName="gh_123", FromUserName=OPENID, CreateTime="1348831860", MsgType="text",
                Content="你好", MsgId="42")
    encrypted = wechat_encrypt(inner)
    body = f"<xml><ToUserName><![CDATA[gh_123]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    [message] = provider.handle_callback(callback("POST", body, query=safe_query(encrypted))).inbound
    assert (message.address, message.text) == (OPENID, "你好")


def test_a_safe_mode_message_with_a_bad_msg_signature_or_for_another_app_is_rejected(wechat):
    provider = wechat(credentials={"app_secret": APP_SECRET, "token": SERVER_TOKEN, "encoding_aes_key": AES_KEY})
    unsigned = xml(ToUserName="gh", Encrypt="c2VjcmV0")
    for query in ({"encrypt_type": "aes"}, {}):  # Encrypt without its msg_signature
        with pytest.raises(CallbackRejected):
            provider.handle_callback(callback("POST", unsigned, query=signed_query(**query)))
    encrypted = wechat_encrypt(xml(MsgType="text", FromUserName=OPENID, CreateTime="1", Content="x"))
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    with pytest.raises(CallbackRejected):
        provider.handle_callback(callback("POST", body, query=safe_query(encrypted, token="guess") |
                                          {"signature": signed_query()["signature"]}))
    other = wechat_encrypt(xml(MsgType="text", FromUserName=OPENID, CreateTime="1", Content="x"), app_id="wxother")
    other_body = f"<xml><Encrypt><![CDATA[{other}]]></Encrypt></xml>".encode()
    with pytest.raises(CallbackRejected):
        provider.handle_callback(callback("POST", other_body, query=safe_query(other)))
