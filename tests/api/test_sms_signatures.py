"""SMS signatures: registered, reviewed like templates, and required approved before any
SMS carries one (the template's, the content's, or the provider account's sign_name)."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from chalicelib import clock
from tests.handlers.test_sender import invoke, record, send_body, stored

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def create(api, key, name="Acme Shop", **extra):
    r = api.post("/v1/sms-signatures", {"name": name, **extra}, key=key)
    assert r.status == 201, r.json
    return r.json


def test_a_new_signature_waits_for_review_and_reads_back_by_its_name(api, workspace):
    created = create(api, workspace.key("operator"), "阿里云商城", provider="aliyun-main", description="our shop")

    assert created["status"] == "pending_review" and created["version"] == 1 and created["name"] == "阿里云商城"
    got = api.get("/v1/sms-signatures/%E9%98%BF%E9%87%8C%E4%BA%91%E5%95%86%E5%9F%8E", key=workspace.admin_key)
    assert got.status == 200 and got.json == created


def test_a_name_taken_is_a_409(api, workspace):
    create(api, workspace.admin_key)
    r = api.post("/v1/sms-signatures", {"name": "Acme Shop"}, key=workspace.admin_key)
    assert r.status == 409 and r.json["code"] == "already_exists"


@pytest.mark.parametrize("name", ["", " Acme", "Acme ", "【Acme】", "a/b", "x" * 33, "tab\there"])
def test_a_malformed_name_is_a_400_in_words(api, workspace, name):
    r = api.post("/v1/sms-signatures", {"name": name}, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "name"
    assert "pattern" not in r.json["errors"][0]["message"]


def test_admins_review_a_signature_as_they_review_templates(api, workspace):
    admin, operator = workspace.admin_key, workspace.key("operator")
    create(api, operator, "Acme")

    assert api.post("/v1/sms-signatures/Acme/approve", key=operator).status == 403
    assert api.post("/v1/sms-signatures/Acme/approve?version=2", key=admin).json["code"] == "stale_version"
    approved = api.post("/v1/sms-signatures/Acme/approve?version=1", key=admin)
    assert approved.status == 200 and approved.json["status"] == "approved" and approved.json["reviewed_at"]
    again = api.post("/v1/sms-signatures/Acme/reject", {"reason": "late"}, key=admin)
    assert again.status == 409 and again.json["code"] == "invalid_state"

    create(api, operator, "Other")
    assert api.post("/v1/sms-signatures/Other/reject", {"reason": " "}, key=admin).status == 400
    rejected = api.post("/v1/sms-signatures/Other/reject", {"reason": "not registered"}, key=admin)
    assert rejected.json["status"] == "rejected" and rejected.json["reason"] == "not registered"


def test_list_filters_by_status_and_pages_and_delete_removes(api, workspace):
    admin = workspace.admin_key
    for name in ("A1", "A2", "A3"):
        create(api, admin, name)
    api.post("/v1/sms-signatures/A2/approve", key=admin)

    first = api.get("/v1/sms-signatures?limit=2", key=admin).json
    rest = api.get(f"/v1/sms-signatures?limit=2&cursor={first['next_cursor']}", key=admin).json
    assert [s["name"] for s in first["items"] + rest["items"]] == ["A1", "A2", "A3"]
    approved = api.get("/v1/sms-signatures?status=approved", key=admin).json["items"]
    assert [s["name"] for s in approved] == ["A2"]

    assert api.delete("/v1/sms-signatures/A1", key=admin).status == 204
    assert api.get("/v1/sms-signatures/A1", key=admin).status == 404
    assert api.delete("/v1/sms-signatures/A1", key=admin).status == 404


# --- the sender sends no SMS whose signature is not approved -----------------------------------

@pytest.fixture
def now(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: START)
    return START


def sms(workspace_id: str, user: str, task: str, content: dict, **settings) -> dict:
    body = send_body(workspace_id, user, kind="sandbox", task_id=task, **settings)
    body["recipients"][0]["content"] = content
    return body


def test_an_sms_with_an_unapproved_or_unknown_signature_fails_with_the_reason_and_an_approved_one_is_sent(
        app, api, workspace, now):
    admin = workspace.admin_key
    create(api, admin, "Pending")
    create(api, admin, "Approved")
    api.post("/v1/sms-signatures/Approved/approve", key=admin)
    task = "tsk_" + uuid.uuid4().hex[:8]

    invoke(app, record(sms(workspace.id, "u1", task, {"text": "hi", "signature": "Pending"})),
           record(sms(workspace.id, "u2", task, {"text": "hi", "signature": "Nobody"})),
           record(sms(workspace.id, "u3", task, {"text": "hi"}, sign_name="Pending")),
           record(sms(workspace.id, "u4", task, {"text": "hi", "signature": "Approved"}, sign_name="Pending")),
           record(sms(workspace.id, "u5", task, {"text": "hi"})))

    u1, u2, u3 = (stored(workspace.id, u, task) for u in ("u1", "u2", "u3"))
    assert u1.status == "failed" and u1.reason == ("SMS signature Pending is not approved (pending_review); "
                                                   "nothing unapproved is sent")
    assert u2.status == "failed" and "SMS signature Nobody is not approved (gone)" in u2.reason
    assert u3.status == "failed" and "SMS signature Pending" in u3.reason
    assert stored(workspace.id, "u4", task).status == "sent"  # the message's own signature wins
    assert stored(workspace.id, "u5", task).status == "sent"  # no signature: nothing to check


def test_a_template_naming_a_signature_is_sent_only_once_the_signature_is_approved(app, api, workspace, now):
    admin = workspace.admin_key
    api.put("/v1/profiles/ann", {"attributes": {}}, key=admin)
    create(api, admin, "Acme")
    tid = api.post("/v1/templates", {"channel": "sms", "name": "t", "body": "Hello", "signature": "Acme"},
                   key=admin).json["id"]
    api.post(f"/v1/templates/{tid}/approve", key=admin)

    invoke(app, record({**send_body(workspace.id, "ann", kind="sandbox", task_id="tsk_before"), "template_id": tid}))
    api.post("/v1/sms-signatures/Acme/approve", key=admin)
    invoke(app, record({**send_body(workspace.id, "ann", kind="sandbox", task_id="tsk_after"), "template_id": tid}))

    before = stored(workspace.id, "ann", "tsk_before")
    assert before.status == "failed" and "SMS signature Acme is not approved" in before.reason
    assert stored(workspace.id, "ann", "tsk_after").status == "sent"
