"""The Umeng U-Push adapter against a local server: the signed request (MD5 recomputed
from the documented algorithm, and the documentation's worked example), unicast and
listcast batching by the listcast limit, Android and iOS payloads, documented answers."""
from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone

import pytest

from chalicelib import clock
from chalicelib.providers import umeng
from tests.providers.chat_helpers import make_provider, outgoing

NOW = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
SECRET = "bedyc7rzfqdy2wcvycrkabprdil2bpmc"
APP_KEY = "5a77fca0b27b0a5f3f0000cb"


@pytest.fixture(autouse=True)
def fixed_clock(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def push(aws_backend, httpserver):
    def make(credentials=None, **settings):
        creds = {"app_master_secret": SECRET} if credentials is None else credentials
        return make_provider(httpserver, "umeng", "push", {"app_key": APP_KEY, **settings}, creds or None)
    return make


def test_the_signature_reproduces_the_documented_worked_example():
    body = ('{"policy":{"expire_time":"2018-03-27 09:06:02"},"description":"qweqwe","production_mode":true,'
            '"appkey":"5a77fca0b27b0a5f3f0000cb","payload":{"body":{"title":"fdasfa","ticker":"fdasfa",'
            '"text":"qweqwewqewq","after_open":"go_app","play_vibrate":"false","play_lights":"false",'
            '"play_sound":"true"},"display_type":"notification"},"type":"broadcast","timestamp":"1521856908422"}')
    assert umeng.sign("http://msg.umeng.com/api/send", body, SECRET) == "914c16508236ab0908e0728301d27d04"


def success(msg_id: str = "uu2r2n2162806433011000") -> dict:
    return {"ret": "SUCCESS", "data": {"msg_id": msg_id}}


def test_one_message_is_a_signed_unicast_with_an_android_notification(push, httpserver):
    httpserver.expect_request("/api/send", method="POST").respond_with_json(success())
    provider = push()
    message = outgoing(provider, "Ak1a5fW4ZaQ5mC0vM5e9xQw3n2T8n9rYp1Lq7cV0bX3m",
                       {"channel": "push", "title": "Sale", "body": "50% off today", "data": {"sku": "A1"}})

    [result] = provider.send([message])

    assert (result.outcome, result.provider_message_id) == ("accepted", "uu2r2n2162806433011000")
    [(request, _)] = httpserver.log
    body = request.get_data().decode()
    url = httpserver.url_for("/api/send")
    assert request.method == "POST" and request.path == "/api/send"
    assert request.args.to_dict() == {"sign": hashlib.md5(f"POST{url}{body}{SECRET}".encode()).hexdigest()}
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "appkey": APP_KEY, "timestamp": str(int(NOW.timestamp() * 1000)), "type": "unicast",
        "device_tokens": "Ak1a5fW4ZaQ5mC0vM5e9xQw3n2T8n9rYp1Lq7cV0bX3m", "production_mode": "true",
        "payload": {"display_type": "notification", "body": {"ticker": "Sale", "title": "Sale",
                                                             "text": "50% off today", "after_open": "go_app"},
                    "extra": {"sku": "A1"}},
    }


def test_messages_with_the_same_content_go_as_listcasts_of_at_most_the_documented_limit(push, httpserver, monkeypatch):
    monkeypatch.setattr(umeng, "LISTCAST_LIMIT", 3)
    httpserver.expect_request("/api/send", method="POST").respond_with_json(success("uu_list"))
    provider = push(platform="ios", production_mode=False)
    same = {"title": "Hi", "body": "Back in stock"}
    batch = [outgoing(provider, f"token{i}", same, user_id=f"u{i}") for i in range(4)]
    batch.append(outgoing(provider, "token9", {"title": "Other", "body": "Other text"}, user_id="u9"))

    results = provider.send(batch)

    assert [r.outcome for r in results] == ["accepted"] * 5
    sent = sorted((json.loads(r.get_data()) for r, _ in httpserver.log), key=lambda b: b["device_tokens"])
    assert [(b["type"], b["device_tokens"]) for b in sent] == [
        ("listcast", "token0,token1,token2"), ("unicast", "token3"), ("unicast", "token9")]
    assert sent[0]["payload"] == {"aps": {"alert": {"title": "Hi", "body": "Back in stock"}}}
    assert sent[0]["production_mode"] == "false"
    assert umeng.UmengProvider.max_batch == 500


@pytest.mark.parametrize("status, answer, outcome, words", [
    (200, {"ret": "FAIL", "data": {"error_code": "2027", "error_msg": "签名不正确"}}, "permanent", "signature"),
    (200, {"ret": "FAIL", "data": {"error_code": "4001", "error_msg": "系统忙"}}, "retryable", "busy"),
    (200, {"ret": "FAIL", "data": {"error_code": "2026", "error_msg": "1分钟内发送任务次数超出3次"}}, "retryable",
     "too many"),
    (200, {"ret": "FAIL", "data": {"error_code": "5005", "error_msg": "device_token格式错误"}}, "permanent",
     "malformed"),
    (200, {"ret": "FAIL", "data": {"error_code": "9999", "error_msg": "未知"}}, "permanent", "U-Push error 9999"),
    (500, {}, "retryable", "U-Push answered 500"),
])
def test_documented_failures_apply_to_every_message_of_the_call(push, httpserver, status, answer, outcome, words):
    httpserver.expect_request("/api/send", method="POST").respond_with_json(answer, status=status)
    provider = push()
    results = provider.send([outgoing(provider, f"t{i}", {"title": "a", "body": "b"}, user_id=f"u{i}")
                             for i in range(2)])
    assert [r.outcome for r in results] == [outcome, outcome]
    assert words in (results[0].reason or "")
    assert len(httpserver.log) == 1


def test_a_message_without_a_push_token_fails_and_the_others_go(push, httpserver):
    httpserver.expect_request("/api/send", method="POST").respond_with_json(success())
    provider = push()
    results = provider.send([outgoing(provider, None, {"title": "a", "body": "b"}),
                             outgoing(provider, "t1", {"title": "a", "body": "b"}, user_id="u2")])
    assert [r.outcome for r in results] == ["permanent", "accepted"]
    assert results[0].reason == "the profile has no push_token"


def test_umeng_documents_no_receipt_callback(push):
    from chalicelib.providers.base import CallbackMalformed
    from tests.providers.chat_helpers import callback
    with pytest.raises(CallbackMalformed):
        push().handle_callback(callback("POST", b"{}"))
