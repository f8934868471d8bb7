"""A chat campaign's plan runs its manually triggered journey for the audience every
period from the start until the end; a run fired twice enters nobody twice; a suspended
campaign stops running."""
from __future__ import annotations

from datetime import timedelta

import pytest

from chalicelib import clock
from tests.api.test_chat_campaigns import published_journey
from tests.handlers.test_due_work import base, fire


@pytest.fixture(autouse=True)
def restore_clock():
    yield
    clock.set_offset(0)


def entries(api, key, journey_id):
    """Entry outcomes: entered, and refused by the journey's re-entry rule (once, the default)."""
    stats = api.get(f"/v1/journeys/{journey_id}/stats", key=key).json["entries"]
    return stats["entered"], sum(v for k, v in stats.items() if k != "entered")


def test_the_plan_enters_the_audience_every_period_once_per_run_and_stops_when_suspended(app, api, workspace, drain):
    key = workspace.admin_key
    api.post("/v1/profiles:batch", {"profiles": [{"user_id": f"c{i}", "phone": f"+861380000{i:04d}",
                                                  "attributes": {"city": "Hangzhou"}} for i in range(3)]}, key=key)
    audience = api.post("/v1/audiences", {"name": "everyone", "visibility": "public", "source": {
        "type": "rules", "match": "all", "conditions": [{"attribute": "city", "op": "exists"}]}}, key=key).json
    drain()
    journey_id = published_journey(api, key)
    start = base()
    clock.set_offset((start - clock.now()).total_seconds() + clock.offset_seconds())
    begin = start + timedelta(minutes=10)
    chat = api.post("/v1/chat-campaigns", {
        "name": "Hourly", "journey_id": journey_id, "audience_id": audience["id"], "start_at": clock.iso(begin),
        "end_at": clock.iso(begin + timedelta(hours=5)), "plan": {"every": 1, "unit": "hour"}}, key=key)
    assert chat.status == 201, chat.json

    fire(app, begin + timedelta(seconds=5))
    fire(app, begin + timedelta(seconds=30))  # the schedule fires twice in the minute
    drain()
    assert entries(api, key, journey_id) == (3, 0)  # one run, however often the schedule fired
    fire(app, begin + timedelta(hours=1, seconds=5))
    drain()
    assert entries(api, key, journey_id) == (3, 3)  # the second run: everyone again, refused by "once"
    assert api.post(f"/v1/chat-campaigns/{chat.json['id']}/suspend", key=key).json["status"] == "paused"
    fire(app, begin + timedelta(hours=2, seconds=5))
    drain()
    assert entries(api, key, journey_id) == (3, 3)  # suspended: no third run
