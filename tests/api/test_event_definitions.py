"""Event definitions: odd property names, and changing (PUT), reading and deleting one."""
from __future__ import annotations

import pytest


def define(api, key, name="purchase", **body):
    return api.put(f"/v1/event-definitions/{name}", {"properties": {"amount": "number"}, **body}, key=key)


@pytest.mark.parametrize("prop", ["", "x" * 256, "a\x00b"])
def test_a_definition_with_a_property_name_dynamodb_refuses_is_a_400_and_the_list_still_reads(api, workspace, prop):
    key = workspace.admin_key

    r = api.post("/v1/event-definitions", {"name": "odd", "properties": {prop: "string"}}, key=key)

    assert r.status == 400 and r.json["errors"][0]["message"].startswith("a property name")
    listed = api.get("/v1/event-definitions", key=key)
    assert listed.status == 200 and listed.json["items"] == []


@pytest.mark.parametrize("prop", ["a.b", "has space", "张", "$ref", "attribute_values", "x" * 255])
def test_odd_but_storable_property_names_are_kept_and_listed(api, workspace, prop):
    key = workspace.admin_key

    assert api.post("/v1/event-definitions", {"name": "odd", "properties": {prop: "string"}}, key=key).status == 201

    listed = api.get("/v1/event-definitions", key=key)
    assert listed.status == 200 and listed.json["items"][0]["properties"] == {prop: "string"}


def test_put_creates_a_definition_and_get_reads_it(api, workspace):
    key = workspace.admin_key

    r = define(api, key, description="an order")

    assert r.status == 200 and r.json["properties"] == {"amount": "number"}
    got = api.get("/v1/event-definitions/purchase", key=key)
    assert got.status == 200 and got.json["description"] == "an order"
    assert api.get("/v1/event-definitions/nothing", key=key).status == 404


def test_put_accepts_a_new_description_and_added_properties(api, workspace):
    key = workspace.admin_key
    define(api, key)

    r = define(api, key, description="now described", properties={"amount": "number", "sku": "string"})

    assert r.status == 200
    assert r.json["properties"] == {"amount": "number", "sku": "string"} and r.json["description"] == "now described"
    assert api.post("/v1/events", {"events": [{"user_id": "d1", "name": "purchase", "properties": {"sku": 5}}]},
                    key=key).status == 400


def test_changing_a_property_type_is_a_409_naming_it(api, workspace):
    key = workspace.admin_key
    define(api, key)

    r = define(api, key, properties={"amount": "string"})

    assert r.status == 409 and r.json["code"] == "incompatible_change"
    assert [e["field"] for e in r.json["errors"]] == ["properties.amount"]
    assert "number" in r.json["errors"][0]["message"]
    assert api.get("/v1/event-definitions/purchase", key=key).json["properties"] == {"amount": "number"}


def test_removing_a_property_is_a_409_naming_it(api, workspace):
    key = workspace.admin_key
    define(api, key, properties={"amount": "number", "sku": "string"})

    r = define(api, key, properties={"amount": "number"})

    assert r.status == 409 and r.json["code"] == "incompatible_change"
    assert [e["field"] for e in r.json["errors"]] == ["properties.sku"]


def test_a_put_that_lost_a_race_is_judged_against_the_winner(api, workspace, monkeypatch):
    """Two PUTs read the same version; the one that writes second must not erase the
    first's property: its write is conditional, so it re-reads and is refused."""
    from chalicelib import clock
    from chalicelib.events import definitions, repo
    from chalicelib.events.schemas import EventDefinitionChange

    key = workspace.admin_key
    define(api, key)
    read = repo.get_definition
    raced = []

    def read_then_lose_the_race(workspace_id, name):
        item = read(workspace_id, name)
        if not raced:
            raced.append(True)
            definitions.put(workspace_id, name, EventDefinitionChange(properties={"amount": "number", "sku": "string"}),
                            clock.now())
        return item

    monkeypatch.setattr(repo, "get_definition", read_then_lose_the_race)

    r = define(api, key, properties={"amount": "number", "coupon": "string"})

    assert r.status == 409 and [e["field"] for e in r.json["errors"]] == ["properties.sku"]
    monkeypatch.undo()
    assert api.get("/v1/event-definitions/purchase", key=key).json["properties"] == {"amount": "number", "sku": "string"}


def test_a_definition_made_before_versions_can_be_changed(api, workspace):
    from chalicelib.models.workspaces import EVENTDEF_PREFIX, EventDefinitionItem

    EventDefinitionItem(pk=workspace.id, sk=EVENTDEF_PREFIX + "legacy", name="legacy", properties={"a": "string"},
                        created_at="2026-01-01T00:00:00.000Z").save()

    r = define(api, workspace.admin_key, name="legacy", properties={"a": "string", "b": "number"})

    assert r.status == 200 and r.json["properties"] == {"a": "string", "b": "number"}


def test_delete_stops_type_checks_and_keeps_the_events(api, workspace, drain):
    key = workspace.admin_key
    define(api, key)
    api.post("/v1/events", {"events": [{"user_id": "d2", "name": "purchase", "properties": {"amount": 5}}]}, key=key)
    drain()

    r = api.delete("/v1/event-definitions/purchase", key=key)

    assert r.status == 204 and r.body == b""
    assert api.get("/v1/event-definitions/purchase", key=key).status == 404
    assert api.get("/v1/event-definitions", key=key).json["items"] == []
    assert api.post("/v1/events", {"events": [{"user_id": "d2", "name": "purchase", "properties": {"amount": "five"}}]},
                    key=key).status == 202
    drain()
    assert len(api.get("/v1/profiles/d2/events", key=key).json["items"]) == 2


def test_deleting_an_unknown_definition_is_a_404(api, workspace):
    assert api.delete("/v1/event-definitions/nothing", key=workspace.admin_key).status == 404


def test_a_bad_name_in_the_path_is_a_400_in_words(api, workspace):
    r = api.put("/v1/event-definitions/1st", {"properties": {}}, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "name"
    assert r.json["errors"][0]["message"].startswith("an event name is 1-64 characters")


def test_viewers_read_definitions_but_cannot_change_them(api, workspace):
    define(api, workspace.admin_key)
    viewer = workspace.key("viewer")

    assert api.get("/v1/event-definitions/purchase", key=viewer).status == 200
    assert define(api, viewer).status == 403
    assert api.delete("/v1/event-definitions/purchase", key=viewer).status == 403


def test_the_openapi_document_lists_the_definition_routes(api):
    paths = api.get("/v1/openapi.json").json["paths"]

    assert set(paths["/v1/event-definitions/{name}"]) >= {"get", "put", "delete"}
