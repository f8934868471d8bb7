"""Marketing tasks through the routes and the real handlers on moto."""
from __future__ import annotations

import pytest

from chalicelib.sending import repo_messages
from chalicelib.sending.messages import MessageKey


@pytest.fixture
def shop(workspace, api):
    """A workspace with a sandbox SMS provider, an approved SMS template and 250 profiles."""
    key = workspace.admin_key
    assert api.put("/v1/providers/sms", {"channel": "sms", "kind": "sandbox"}, key=key).status == 200
    made = api.post("/v1/templates", {"channel": "sms", "name": "Hello", "body": "Hi {{ profile.user_id }}"}, key=key)
    assert made.status == 201, made.json
    assert api.post(f"/v1/templates/{made.json['id']}/approve", key=key).status == 200
    profiles = [{"user_id": f"u{i:03d}", "phone": f"+8613800{i:06d}"} for i in range(250)]
    assert api.post("/v1/profiles:batch", {"profiles": profiles}, key=key).status in (200, 207), "profiles"
    workspace.template_id = made.json["id"]
    return workspace


def statuses(ws_id, task_id, users):
    keys = [MessageKey(ws_id, u, task_id=task_id) for u in users]
    found = repo_messages.read(keys)
    return {k.user_id: found[k].status for k in keys if k in found}


def test_an_instant_task_to_an_id_list_sends_each_user_once(shop, api, drain):
    users = [f"u{i:03d}" for i in range(250)]
    r = api.post("/v1/tasks", {"name": "Flash sale", "channel": "sms", "provider": "sms", "user_ids": users,
                               "template_id": shop.template_id}, key=shop.admin_key)
    assert r.status == 201, r.json
    assert r.json["status"] == "sending"
    drain()
    task = api.get(f"/v1/tasks/{r.json['id']}", key=shop.admin_key).json
    assert task["reconciliation"]["targeted"] == 250
    assert set(statuses(shop.id, task["id"], users).values()) == {"sent"}


def test_own_content_becomes_a_template_named_after_the_task_and_nothing_goes_before_approval(shop, api, drain):
    r = api.post("/v1/tasks", {"name": "Own words", "channel": "sms", "provider": "sms", "user_ids": ["u001"],
                               "content": {"body": "Welcome back"}}, key=shop.admin_key)
    assert r.status == 201, r.json
    task = r.json
    template = api.get(f"/v1/templates/{task['template_id']}", key=shop.admin_key).json
    assert template["name"] == "Own words" and template["status"] == "pending_review"
    assert task["status"] == "scheduled"
    drain()
    assert statuses(shop.id, task["id"], ["u001"]) == {}
    assert api.post(f"/v1/templates/{task['template_id']}/approve", key=shop.admin_key).status == 200
    drain()
    assert api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json["status"] == "sending"
    assert statuses(shop.id, task["id"], ["u001"]) == {"u001": "sent"}


def test_edits_to_a_template_make_a_new_template_pending_review(shop, api):
    r = api.post("/v1/tasks", {"name": "Edited", "channel": "sms", "provider": "sms", "user_ids": ["u001"],
                               "template_id": shop.template_id, "template_edits": {"body": "Changed"}},
                 key=shop.admin_key)
    assert r.status == 201, r.json
    assert r.json["template_id"] != shop.template_id
    made = api.get(f"/v1/templates/{r.json['template_id']}", key=shop.admin_key).json
    assert made["name"] == "Edited" and made["status"] == "pending_review" and made["body"] == "Changed"


def test_a_cancelled_task_fans_out_nothing_more(shop, api, drain):
    r = api.post("/v1/tasks", {"name": "Oops", "channel": "sms", "provider": "sms", "user_ids": ["u001"],
                               "content": {"body": "x"}}, key=shop.admin_key)
    assert api.post(f"/v1/tasks/{r.json['id']}/cancel", key=shop.admin_key).json["status"] == "cancelled"
    assert api.post(f"/v1/tasks/{r.json['id']}/cancel", key=shop.admin_key).status == 409
    api.post(f"/v1/templates/{r.json['template_id']}/approve", key=shop.admin_key)
    drain()
    assert statuses(shop.id, r.json["id"], ["u001"]) == {}


@pytest.mark.parametrize("body, field", [
    ({"user_ids": ["a"], "audience_id": "aud1"}, "body"),
    ({"user_ids": ["a"], "provider": "nope"}, "provider"),
    ({"user_ids": ["a"], "channel": "email"}, "provider"),
    ({"user_ids": ["a"], "send_at": "2020-01-01T00:00:00Z"}, "send_at"),
    ({"user_ids": ["a"], "content": {"body": "x"}}, "body"),
    ({"audience_id": "aud_missing"}, "audience_id"),
])
def test_bad_tasks_are_refused_naming_the_field(shop, api, body, field):
    full = {"name": "t", "channel": "sms", "provider": "sms", "template_id": shop.template_id, **body}
    r = api.post("/v1/tasks", full, key=shop.admin_key)
    assert r.status == 400, r.json
    assert any(e["field"] == field for e in r.json["errors"]), r.json


def test_the_message_list_pages_across_shards_and_filters_by_status(shop, api, drain):
    key = shop.admin_key
    api.put("/v1/providers/flaky", {"channel": "sms", "kind": "sandbox", "settings": {"failure_rate": 0.3}}, key=key)
    users = [f"u{i:03d}" for i in range(120)]
    task = api.post("/v1/tasks", {"name": "Flaky", "channel": "sms", "provider": "flaky", "user_ids": users,
                                  "template_id": shop.template_id}, key=key).json
    drain()
    seen, cursor = [], None
    while True:
        page = api.get(f"/v1/tasks/{task['id']}/messages?limit=7" + (f"&cursor={cursor}" if cursor else ""), key=key)
        assert page.status == 200, page.json
        seen += page.json["items"]
        cursor = page.json["next_cursor"]
        if not cursor:
            break
    assert sorted(m["user_id"] for m in seen) == users
    failed = api.get(f"/v1/tasks/{task['id']}/messages?status=failed&limit=200", key=key).json["items"]
    expected = {m["user_id"] for m in seen if m["status"] == "failed"}
    assert failed and {m["user_id"] for m in failed} == expected and len(expected) < 120
    assert all("sandbox" in m["reason"] for m in failed)
    assert api.get(f"/v1/tasks/{task['id']}/messages?status=lost", key=key).status == 400
    other = api.post("/v1/tasks", {"name": "Other", "channel": "sms", "provider": "sms", "user_ids": ["u001"],
                                   "template_id": shop.template_id}, key=key).json
    first = api.get(f"/v1/tasks/{task['id']}/messages?limit=1", key=key).json["next_cursor"]
    assert api.get(f"/v1/tasks/{other['id']}/messages?cursor={first}", key=key).status == 400


def test_messages_still_queued_when_a_task_is_cancelled_are_dropped_and_accounted_for(shop, api, drain):
    users = [f"u{i:03d}" for i in range(20)]
    task = api.post("/v1/tasks", {"name": "Stop it", "channel": "sms", "provider": "sms", "user_ids": users,
                                  "template_id": shop.template_id}, key=shop.admin_key).json
    # The fan-out page is queued; cancel before the queues are drained.
    assert api.post(f"/v1/tasks/{task['id']}/cancel", key=shop.admin_key).json["status"] == "cancelled"
    drain()
    assert set(statuses(shop.id, task["id"], users).values()) <= {"dropped_cancelled"}
    shown = api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json
    equation = shown["reconciliation"]
    assert equation["targeted"] == equation["sent"] + equation["dropped"] + equation["failed"] + equation["pending"]
    assert equation["sent"] == 0


def test_a_tasks_messages_export_to_a_csv_with_a_download_link(shop, api, drain):
    import csv
    import io

    from chalicelib import aws
    from chalicelib.config import settings

    key = shop.admin_key
    api.put("/v1/profiles/=cmd", {"phone": "+8613811112222"}, key=key)
    task = api.post("/v1/tasks", {"name": "Export me", "channel": "sms", "provider": "sms",
                                  "user_ids": ["u001", "u002", "=cmd"], "template_id": shop.template_id}, key=key).json
    drain()
    made = api.post(f"/v1/tasks/{task['id']}/exports", key=key)
    assert made.status == 202 and made.json["status"] == "running"
    drain()
    done = api.get(f"/v1/tasks/{task['id']}/exports/{made.json['id']}", key=key).json
    assert done["status"] == "done" and done["rows"] == 3 and done["download_url"].startswith("http")
    body = aws.s3().get_object(Bucket=settings.bucket("uploads"),
                               Key=f"exports/{shop.id}/tasks/{task['id']}/{made.json['id']}.csv")["Body"].read()
    rows = list(csv.DictReader(io.StringIO(body.decode())))
    assert sorted(r["user_id"] for r in rows) == ["'=cmd", "u001", "u002"]  # a formula cell is neutralised
    assert {r["status"] for r in rows} == {"sent"}
    assert api.get(f"/v1/tasks/{task['id']}/exports/texp_nope", key=key).status == 404
