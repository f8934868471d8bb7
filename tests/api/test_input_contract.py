"""Small contract fixes (issue 11): JSON numbers as numbers, PATCH with nothing to change."""
from __future__ import annotations

import pytest

from tests.conftest import BOOTSTRAP_KEY


@pytest.mark.parametrize("body", [{}, {"name": None}, {"timezone": None, "event_retention_days": None}])
def test_a_workspace_patch_that_changes_nothing_is_a_400_asking_for_a_field(api, workspace, body):
    r = api.patch("/v1/workspace", body, key=workspace.admin_key)

    assert r.status == 400
    assert r.json["errors"] == [{"field": "body", "message": "give at least one of name, timezone, event_retention_days, default_region"}]


@pytest.mark.parametrize("value", ["30", True, "thirty"])
def test_a_retention_that_is_not_a_json_integer_is_a_400(api, workspace, value):
    r = api.patch("/v1/workspace", {"event_retention_days": value}, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "event_retention_days"
    assert api.get("/v1/workspace", key=workspace.admin_key).json["event_retention_days"] != 30


def test_a_workspace_created_with_a_retention_string_is_refused(api):
    r = api.post("/v1/workspaces", {"name": "S", "event_retention_days": "30"}, key=BOOTSTRAP_KEY)

    assert r.status == 400 and r.json["errors"][0]["field"] == "event_retention_days"


def test_query_strings_still_carry_numbers(api, workspace):
    r = api.get("/v1/profiles?limit=5", key=workspace.admin_key)

    assert r.status == 200


def test_a_blank_name_is_refused_now_that_nothing_is_trimmed(api, workspace):
    r = api.patch("/v1/workspace", {"name": "   "}, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"] == [{"field": "name", "message": "must not be blank"}]
