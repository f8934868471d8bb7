"""Scheduled tasks start from the due-work index at their minute, once, and never when cancelled."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import clock
from tests.api.test_tasks import statuses
from tests.handlers.test_due_work import base, fire


@pytest.fixture(autouse=True)
def restore_clock():
    yield
    clock.set_offset(0)


@pytest.fixture
def shop(workspace, api):
    key = workspace.admin_key
    assert api.put("/v1/providers/sms", {"channel": "sms", "kind": "sandbox"}, key=key).status == 200
    made = api.post("/v1/templates", {"channel": "sms", "name": "Hello", "body": "Hi"}, key=key).json
    api.post(f"/v1/templates/{made['id']}/approve", key=key)
    api.post("/v1/profiles:batch", {"profiles": [{"user_id": f"u{i}", "phone": f"+861380000{i:04d}"}
                                                 for i in range(5)]}, key=key)
    workspace.template_id = made["id"]
    return workspace


def test_a_scheduled_task_starts_at_its_minute_once_when_the_schedule_fires_twice(app, api, shop, drain):
    start = base()
    clock.set_offset((start - clock.now()).total_seconds() + clock.offset_seconds())
    send_at = start + timedelta(minutes=10)
    task = api.post("/v1/tasks", {"name": "Later", "channel": "sms", "provider": "sms",
                                  "user_ids": [f"u{i}" for i in range(5)], "template_id": shop.template_id,
                                  "send_at": clock.iso(send_at)}, key=shop.admin_key).json
    assert task["status"] == "scheduled"
    fire(app, send_at - timedelta(minutes=1))
    assert api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json["status"] == "scheduled"
    fire(app, send_at + timedelta(seconds=5))
    fire(app, send_at + timedelta(seconds=40))  # the schedule fires twice in the same minute
    started = api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json
    assert started["status"] == "sending" and started["started_at"].startswith(clock.iso(send_at)[:16])
    drain()
    assert set(statuses(shop.id, task["id"], [f"u{i}" for i in range(5)]).values()) == {"sent"}
    fire(app, send_at + timedelta(minutes=2))  # the reconciliation check finds nobody pending
    done = api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json
    assert done["status"] == "done" and done["reconciliation"]["targeted"] == 5 == done["reconciliation"]["sent"]


def test_a_cancelled_scheduled_task_never_starts(app, api, shop, drain):
    start = base()
    clock.set_offset((start - clock.now()).total_seconds() + clock.offset_seconds())
    send_at = start + timedelta(minutes=10)
    task = api.post("/v1/tasks", {"name": "Never", "channel": "sms", "provider": "sms", "user_ids": ["u1"],
                                  "template_id": shop.template_id, "send_at": clock.iso(send_at)},
                    key=shop.admin_key).json
    assert api.post(f"/v1/tasks/{task['id']}/cancel", key=shop.admin_key).json["status"] == "cancelled"
    fire(app, send_at + timedelta(seconds=5))
    drain()
    assert api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json["status"] == "cancelled"
    assert statuses(shop.id, task["id"], ["u1"]) == {}


def test_a_scheduled_task_whose_template_stays_in_review_fails_after_the_grace(app, api, shop, drain):
    start = base()
    clock.set_offset((start - clock.now()).total_seconds() + clock.offset_seconds())
    send_at = start + timedelta(minutes=10)
    task = api.post("/v1/tasks", {"name": "Unreviewed", "channel": "sms", "provider": "sms", "user_ids": ["u1"],
                                  "content": {"body": "new words"}, "send_at": clock.iso(send_at),
                                  "approval_grace_minutes": 30}, key=shop.admin_key).json
    fire(app, send_at + timedelta(seconds=5))
    assert api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json["status"] == "scheduled"
    fire(app, send_at + timedelta(minutes=30, seconds=5))
    failed = api.get(f"/v1/tasks/{task['id']}", key=shop.admin_key).json
    assert failed["status"] == "failed" and "not approved 30 minutes after" in failed["reason"]
