"""Fatigue rules through the API: admins set them, everyone in the workspace reads them."""
from __future__ import annotations

import pytest

RULE = {"max_messages": 3, "period": "day", "quiet_hours": {"start": "22:00", "end": "08:00"}, "quiet_action": "defer"}


def test_an_admin_sets_reads_lists_and_removes_a_channels_rule(api, workspace):
    key = workspace.admin_key

    put = api.put("/v1/fatigue-rules/sms", RULE, key=key)
    assert put.status == 200, put.json
    assert put.json["channel"] == "sms" and put.json["quiet_hours"] == {"start": "22:00", "end": "08:00"}
    assert api.get("/v1/fatigue-rules/sms", key=key).json["max_messages"] == 3
    api.put("/v1/fatigue-rules/email", {"quiet_hours": {"start": "12:00", "end": "13:30"}, "quiet_action": "drop"}, key=key)
    listed = api.get("/v1/fatigue-rules", key=workspace.key("viewer")).json
    assert {r["channel"]: r["quiet_action"] for r in listed["items"]} == {"email": "drop", "sms": "defer"}
    assert listed["next_cursor"] is None

    assert api.delete("/v1/fatigue-rules/sms", key=key).status == 204
    assert api.get("/v1/fatigue-rules/sms", key=key).status == 404
    assert api.delete("/v1/fatigue-rules/sms", key=key).status == 404


def test_a_put_replaces_the_whole_rule(api, workspace):
    key = workspace.admin_key
    api.put("/v1/fatigue-rules/push", RULE, key=key)

    r = api.put("/v1/fatigue-rules/push", {"max_messages": 10, "period": "week"}, key=key)

    assert r.json["quiet_hours"] is None and r.json["period"] == "week"


def test_the_sender_reads_the_rules_as_stored(api, workspace):
    from chalicelib.sending import repo_fatigue
    from chalicelib.sending.fatigue import FatigueRule, QuietHours

    api.put("/v1/fatigue-rules/sms", RULE, key=workspace.admin_key)

    assert repo_fatigue.load_rules(workspace.id) == {
        "sms": FatigueRule("sms", 3, "day", QuietHours.parse("22:00", "08:00"), "defer")}


def test_only_admins_write_rules(api, workspace):
    for role in ("operator", "viewer"):
        assert api.put("/v1/fatigue-rules/sms", RULE, key=workspace.key(role)).status == 403
    assert api.get("/v1/fatigue-rules", key=workspace.key("viewer")).status == 200


def test_rules_of_one_workspace_are_not_seen_by_another(api, new_workspace):
    mine, theirs = new_workspace(), new_workspace()
    api.put("/v1/fatigue-rules/sms", RULE, key=mine.admin_key)

    assert api.get("/v1/fatigue-rules", key=theirs.admin_key).json["items"] == []
    assert api.get("/v1/fatigue-rules/sms", key=theirs.admin_key).status == 404


@pytest.mark.parametrize("body, field, words", [
    ({"max_messages": 3}, "body", "max_messages and period go together"),
    ({"quiet_action": "drop"}, "body", "give max_messages and period, quiet_hours, or both"),
    ({**RULE, "max_messages": 0}, "max_messages", ""),
    ({**RULE, "max_messages": 101}, "max_messages", ""),
    ({**RULE, "max_messages": "3"}, "max_messages", "JSON number"),
    ({**RULE, "period": "year"}, "period", ""),
    ({**RULE, "quiet_hours": {"start": "24:00", "end": "08:00"}}, "quiet_hours.start", "HH:MM"),
    ({**RULE, "quiet_hours": {"start": "8:00", "end": "09:00"}}, "quiet_hours.start", "HH:MM"),
    ({**RULE, "quiet_hours": {"start": "08:00", "end": "08:00"}}, "quiet_hours", "different start and end"),
    ({**RULE, "quiet_action": "later"}, "quiet_action", ""),
    ({**RULE, "cap": 3}, "cap", "unknown field"),
])
def test_a_bad_rule_is_a_400_naming_the_field(api, workspace, body, field, words):
    r = api.put("/v1/fatigue-rules/sms", body, key=workspace.admin_key)

    assert r.status == 400, r.json
    assert any(e["field"] == field and words in e["message"] for e in r.json["errors"]), r.json


def test_an_unknown_channel_is_refused_by_name(api, workspace):
    r = api.put("/v1/fatigue-rules/fax", RULE, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "channel"
    assert "sms" in r.json["errors"][0]["message"]
    assert api.get("/v1/fatigue-rules/fax", key=workspace.admin_key).status == 404
