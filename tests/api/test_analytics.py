"""Analytics routes (moto, through the sends and receipts handlers): a campaign with
sub-campaigns adds up at each level, the daily series is in the workspace's time zone,
rates, conversions to a goal event, 404s and bad input."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from chalicelib.sending import repo_messages
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
    message = repo_messages.read_item(key)
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


def test_a_period_keeps_the_days_from_to_inclusive_and_its_totals(app, api, workspace, at):
    at(datetime(2026, 11, 26, 2, 0, tzinfo=timezone.utc))  # 26th in Shanghai
    send(app, workspace.id, ["u1"], task_id="t1")
    at(datetime(2026, 11, 27, 2, 0, tzinfo=timezone.utc))  # 27th
    send(app, workspace.id, ["u2", "u3"], task_id="t1")

    body = api.get("/v1/analytics/tasks/t1?from=2026-11-27&to=2026-11-28", key=workspace.admin_key).json

    assert (body["from"], body["to"], body["sent"]) == ("2026-11-27", "2026-11-28", 2)
    assert [(d["date"], d["sent"]) for d in body["daily"]] == [("2026-11-27", 2), ("2026-11-28", 0)]


def test_a_task_with_no_counters_is_404_unless_its_task_item_exists(app, api, workspace, at):
    aws.dynamodb().put_item(TableName=settings.table("campaigns"), Item={
        "pk": {"S": workspace.id}, "sk": {"S": "task#t_new"}, "kind": {"S": "task"}})

    missing = api.get("/v1/analytics/tasks/t_none", key=workspace.admin_key)
    planned = api.get("/v1/analytics/tasks/t_new", key=workspace.admin_key)

    assert missing.status == 404
    assert planned.status == 200 and planned.json["targeted"] == 0 and planned.json["daily"] == []
    assert api.get("/v1/analytics/campaigns/cmp404", key=workspace.admin_key).status == 404
    assert api.get("/v1/analytics/journeys/jny_none", key=workspace.admin_key).status == 404


def test_another_workspaces_task_is_404(app, api, workspace, new_workspace, at):
    send(app, workspace.id, ["u1"], task_id="t1")
    other = new_workspace("Other")

    assert api.get("/v1/analytics/tasks/t1", key=other.admin_key).status == 404


@pytest.mark.parametrize("query, field", [
    ("from=2026-13-01", "from"), ("from=26-11-2026", "from"), ("from=2026-11-28&to=2026-11-27", "to"),
    ("from=2025-01-01&to=2026-11-27", "to"), ("within=P7D", "within"), ("goal=buy&within=P1Y", "within"),
    ("goal=has space", "goal"), ("colour=red", "colour"), ("from=0001-01-01", "from"), ("to=9999-12-31", "to"),
])
def test_bad_analytics_queries_are_400_naming_the_parameter(app, api, workspace, query, field):
    r = api.get(f"/v1/analytics/tasks/t1?{query}", key=workspace.admin_key)

    assert r.status == 400, r.json
    assert field in json.dumps(r.json)


def test_analytics_need_a_key_and_a_viewer_may_read(app, api, workspace, at):
    send(app, workspace.id, ["u1"], task_id="t1")

    assert api.get("/v1/analytics/tasks/t1").status == 401
    assert api.get("/v1/analytics/tasks/t1", key=workspace.key("viewer")).status == 200


def test_a_journey_sums_its_nodes_and_shows_each(app, api, workspace, at):
    send(app, workspace.id, ["u1", "u2"], journey=("jny_1", "welcome"))
    send(app, workspace.id, ["u1"], journey=("jny_1", "reminder"), failure_rate=1.0)

    body = api.get("/v1/analytics/journeys/jny_1", key=workspace.admin_key).json

    assert (body["targeted"], body["sent"], body["failed"]) == (3, 2, 1)
    assert [(n["node_id"], n["sent"], n["failed"]) for n in body["nodes"]] == [("reminder", 0, 1), ("welcome", 2, 0)]
    service.JourneyAnalytics.model_validate(body)


def test_the_aws_cost_is_an_estimate_per_decided_message_with_its_source(app, api, workspace, at):
    send(app, workspace.id, ["u1", "u2"], task_id="t1")

    body = api.get("/v1/analytics/tasks/t1", key=workspace.admin_key).json

    from chalicelib.analytics import aws_cost
    assert body["aws_cost"]["estimate"] is True and "bench/prices.json" in body["aws_cost"]["source"]
    assert body["estimated_aws_cost_usd"] == pytest.approx(2 * aws_cost.per_message_usd(), abs=1e-6)


def events(api, workspace, drain, *events: tuple[str, str, datetime]) -> None:
    r = api.post("/v1/events", {"events": [{"user_id": u, "name": n, "timestamp": clock.iso(t)} for u, n, t in events]},
                 key=workspace.admin_key)
    assert r.status == 202, r.json
    drain()


def test_conversions_count_users_who_did_the_goal_within_the_window_after_their_message(app, api, workspace, drain,
                                                                                        at):
    top = campaign(api, workspace, "Spring")
    send(app, workspace.id, ["u1", "u2", "u3", "u4"], task_id="t1", campaign_id=top)
    send(app, workspace.id, ["u5"], task_id="t1", failure_rate=1.0)
    aws.dynamodb().put_item(TableName=settings.table("campaigns"), Item={
        "pk": {"S": workspace.id}, "sk": {"S": "task#t1"}, "kind": {"S": "task"}, "campaign_id": {"S": top}})
    at(START + timedelta(days=10))
    events(api, workspace, drain,
           ("u1", "purchase", START + timedelta(days=1)),       # converted
           ("u2", "purchase", START - timedelta(hours=1)),      # before the message
           ("u3", "purchase", START + timedelta(days=8)),       # after the window
           ("u4", "view", START + timedelta(hours=2)),          # not the goal
           ("u5", "purchase", START + timedelta(hours=2)))      # never sent (failed)

    body = api.get("/v1/analytics/tasks/t1?goal=purchase&within=P7D", key=workspace.admin_key).json
    wider = api.get("/v1/analytics/tasks/t1?goal=purchase&within=P9D", key=workspace.admin_key).json
    rolled = api.get(f"/v1/analytics/campaigns/{top}?goal=purchase", key=workspace.admin_key).json

    assert body["conversions"] == {"goal": "purchase", "within": "P7D", "messages": 4, "users": 4, "converted": 1,
                                   "rate": 0.25}
    assert wider["conversions"]["converted"] == 2
    assert rolled["conversions"]["converted"] == 1 and rolled["conversions"]["within"] == "P7D"


def test_conversions_are_refused_above_the_message_limit(app, api, workspace, at, monkeypatch):
    from chalicelib.analytics import conversions
    monkeypatch.setattr(conversions, "MAX_MESSAGES", 2)
    send(app, workspace.id, ["u1", "u2", "u3"], task_id="t1")

    r = api.get("/v1/analytics/tasks/t1?goal=purchase", key=workspace.admin_key)

    assert r.status == 400 and "at most 2 sent messages" in r.json["detail"]
