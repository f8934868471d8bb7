"""Analytics routes (moto, through the sends and receipts handlers): a campaign with
sub-campaigns adds up at each level, the daily series is in the workspace's time zone,
rates, conversions to a goal event, 404s and bad input."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib import aws, clock
from chalicelib.analytics import service
from chalicelib.config import settings
from chalicelib.models.messages import MessageItem
from chalicelib.sending.messages import MessageKey

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)
COUNTERS = ("targeted", "sent", "delivered", "failed", "opened", "clicked", "unique_clicks", "dropped_fatigue",
            "dropped_suppressed", "cost")


@pytest.fixture
def at(monkeypatch):
    def move(moment: datetime) -> datetime:
        monkeypatch.setattr(clock, "now", lambda: moment)
        return moment

    move(START)
    return move


def _record(queue: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:ma-local-{queue}",
            "awsRegion": "us-east-1"}


def send(app, ws: str, users: list[str], *, task_id: str | None = None, campaign_id: str | None = None,
         failure_rate: float = 0.0, journey: tuple[str, str] | None = None) -> None:
    """One page of a task (or journey node) through the sends handler, sandbox provider at 0.02 a message."""
    from devstack.lambda_shapes import FakeContext

    origin: dict[str, Any] = {"task_id": task_id}
    if journey:
        origin = {"journey_id": journey[0], "node_id": journey[1], "entry_id": "e1"}
    body = {"type": "send", "workspace_id": ws, "channel": "sms", **origin, "campaign_id": campaign_id,
            "provider": {"name": "main", "kind": "sandbox",
                         "settings": {"cost_per_message": 0.02, "failure_rate": failure_rate}},
            "recipients": [{"user_id": u, "to": f"+86138000{i:05d}", "content": {"text": "hi"}}
                           for i, u in enumerate(users)]}
    result = app.handler_map["on_sends"]({"Records": [_record("sends", body)]}, FakeContext("on_sends"))
    assert result == {"batchItemFailures": []}


def receipt(app, ws: str, task_id: str, user: str, status: str, moment: datetime) -> None:
    from devstack.lambda_shapes import FakeContext

    key = MessageKey(ws, user, task_id=task_id)
    message = MessageItem.get(key.pk, key.sk, consistent_read=True)
    body = {"type": "receipts", "workspace_id": ws, "provider": "main", "attempt": 0, "receipts": [
        {"provider_message_id": message.provider_message_id, "status": status, "at": clock.iso(moment)}]}
    result = app.handler_map["on_receipts"]({"Records": [_record("receipts", body)]}, FakeContext("on_receipts"))
    assert result == {"batchItemFailures": []}


def campaign(api, workspace, name: str, parent: str | None = None) -> str:
    r = api.post("/v1/campaigns", {"name": name, "parent_id": parent}, key=workspace.admin_key)
    assert r.status == 201, r.json
    return r.json["id"]


def pinned(body: dict[str, Any]) -> dict[str, Any]:
    return {name: body[name] for name in COUNTERS}


def test_a_campaign_with_two_sub_campaigns_and_mixed_tasks_adds_up_at_each_level(app, api, workspace, at):
    top = campaign(api, workspace, "Winter")
    first, second = campaign(api, workspace, "Email week", top), campaign(api, workspace, "SMS week", top)
    send(app, workspace.id, ["a1", "a2", "a3"], task_id="t1", campaign_id=first)
    send(app, workspace.id, ["b1", "b2"], task_id="t2", campaign_id=first, failure_rate=1.0)
    send(app, workspace.id, ["c1", "c2"], task_id="t3", campaign_id=second)
    send(app, workspace.id, ["d1"], task_id="t4", campaign_id=top)
    for user in ("a1", "a2"):
        receipt(app, workspace.id, "t1", user, "delivered", START + timedelta(minutes=1))
    receipt(app, workspace.id, "t1", "a1", "clicked", START + timedelta(minutes=5))
    receipt(app, workspace.id, "t3", "c1", "delivered", START + timedelta(minutes=1))
    key = workspace.key("viewer")

    def read(path: str) -> dict[str, Any]:
        r = api.get(path, key=key)
        assert r.status == 200, r.json
        return r.json

    t1, t2, t3, t4 = (read(f"/v1/analytics/tasks/{t}") for t in ("t1", "t2", "t3", "t4"))
    assert pinned(t1) == {"targeted": 3, "sent": 3, "delivered": 2, "failed": 0, "opened": 1, "clicked": 1,
                          "unique_clicks": 1, "dropped_fatigue": 0, "dropped_suppressed": 0, "cost": 0.06}
    assert (t2["targeted"], t2["sent"], t2["failed"], t2["cost"]) == (2, 0, 2, 0)
    assert (t3["sent"], t3["delivered"], t4["sent"]) == (2, 1, 1)

    in_first, in_second, whole = (read(f"/v1/analytics/campaigns/{c}") for c in (first, second, top))
    for name in COUNTERS:
        assert in_first[name] == pytest.approx(t1[name] + t2[name]), name
        assert in_second[name] == pytest.approx(t3[name]), name
        assert whole[name] == pytest.approx(t1[name] + t2[name] + t3[name] + t4[name]), name
    assert {c["campaign_id"]: c["targeted"] for c in whole["campaigns"]} == {top: 1, first: 5, second: 2}
    assert [c["campaign_id"] for c in in_first["campaigns"]] == [first]
    assert whole["daily"] == [{"date": "2026-11-26", **{k: whole[k] for k in whole["daily"][0] if k != "date"}}]
    service.CampaignAnalytics.model_validate(whole)


def test_rates_divide_delivered_by_sent_and_opens_and_unique_clicks_by_delivered(app, api, workspace, at):
    send(app, workspace.id, ["u1", "u2", "u3", "u4"], task_id="t1")
    for user in ("u1", "u2"):
        receipt(app, workspace.id, "t1", user, "delivered", START + timedelta(minutes=1))
    receipt(app, workspace.id, "t1", "u1", "clicked", START + timedelta(minutes=2))
    receipt(app, workspace.id, "t1", "u1", "clicked", START + timedelta(minutes=3))  # a second click, same user
    send(app, workspace.id, ["v1"], task_id="t_failed", failure_rate=1.0)

    body = api.get("/v1/analytics/tasks/t1", key=workspace.admin_key).json
    nothing_sent = api.get("/v1/analytics/tasks/t_failed", key=workspace.admin_key).json

    assert (body["clicked"], body["unique_clicks"]) == (2, 1)
    assert (body["delivery_rate"], body["open_rate"], body["click_rate"]) == (0.5, 0.5, 0.5)
    assert (nothing_sent["delivery_rate"], nothing_sent["open_rate"], nothing_sent["click_rate"]) == (None, None, None)


def test_the_daily_series_is_in_the_workspace_time_zone_and_a_late_receipt_counts_on_its_day(app, api, workspace,
                                                                                             at):
    at(datetime(2026, 11, 26, 23, 30, tzinfo=timezone.utc))  # 07:30 on 27 November in Shanghai
    send(app, workspace.id, ["u1", "u2"], task_id="t1")
    at(datetime(2026, 11, 29, 1, 0, tzinfo=timezone.utc))  # the receipt arrives on the 29th (Shanghai) ...
    receipt(app, workspace.id, "t1", "u1", "delivered",
            datetime(2026, 11, 28, 15, 30, tzinfo=timezone.utc))  # ... about a delivery at 23:30 on the 28th

    body = api.get("/v1/analytics/tasks/t1", key=workspace.admin_key).json

    assert body["timezone"] == "Asia/Shanghai"
    assert [(d["date"], d["sent"], d["delivered"]) for d in body["daily"]] == [
        ("2026-11-27", 2, 0), ("2026-11-28", 0, 1)]
