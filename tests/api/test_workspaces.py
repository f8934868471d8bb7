"""Workspaces, API keys, roles and the org-admin bootstrap key."""
from __future__ import annotations

from tests.conftest import BOOTSTRAP_KEY


def test_org_admin_creates_a_workspace_with_a_first_admin_key_shown_once(api):
    r = api.post("/v1/workspaces", {"name": "Acme", "timezone": "Europe/Paris"}, key=BOOTSTRAP_KEY)

    assert r.status == 201
    assert r.json["workspace"]["name"] == "Acme"
    assert r.json["workspace"]["timezone"] == "Europe/Paris"
    assert r.json["workspace"]["event_retention_days"] == 365
    secret = r.json["api_key"]["secret"]
    assert r.json["api_key"]["role"] == "admin"
    me = api.get("/v1/workspace", key=secret)
    assert me.status == 200 and me.json["id"] == r.json["workspace"]["id"]
    listed = api.get("/v1/api-keys", key=secret).json["items"]
    assert [k["id"] for k in listed] == [r.json["api_key"]["id"]]
    assert "secret" not in listed[0] and secret not in str(listed)


def test_workspace_creation_needs_the_org_admin_key(api, workspace):
    r = api.post("/v1/workspaces", {"name": "X", "timezone": "UTC"}, key=workspace.admin_key)
    assert r.status == 403
    assert r.content_type.startswith("application/problem+json")


def test_the_org_admin_key_cannot_read_workspace_data(api):
    assert api.get("/v1/workspace", key=BOOTSTRAP_KEY).status == 403


def test_missing_and_invalid_keys_are_401(api, workspace):
    assert api.get("/v1/workspace").status == 401
    assert api.get("/v1/workspace", key="nonsense").status == 401
    forged = workspace.admin_key[:-3] + "xyz"
    r = api.get("/v1/workspace", key=forged)
    assert r.status == 401
    assert r.json["code"] == "unauthorized"
    assert api.get("/v1/workspace", headers={"Authorization": "Basic abc"}).status == 401


def test_workspace_creation_validates_fields(api):
    r = api.post("/v1/workspaces", {"name": "", "timezone": "Mars/Olympus"}, key=BOOTSTRAP_KEY)
    assert r.status == 400
    assert {e["field"] for e in r.json["errors"]} == {"name", "timezone"}


def test_patch_workspace_changes_settings_for_admins_only(api, workspace):
    r = api.patch("/v1/workspace", {"event_retention_days": 30, "timezone": "UTC"}, key=workspace.admin_key)
    assert r.status == 200
    assert r.json["event_retention_days"] == 30 and r.json["timezone"] == "UTC"
    assert api.get("/v1/workspace", key=workspace.admin_key).json["event_retention_days"] == 30
    assert api.patch("/v1/workspace", {"name": "n"}, key=workspace.key("operator")).status == 403


def test_patch_workspace_refuses_bad_retention_and_empty_patch(api, workspace):
    r = api.patch("/v1/workspace", {"event_retention_days": 0}, key=workspace.admin_key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "event_retention_days"
    assert api.patch("/v1/workspace", {}, key=workspace.admin_key).status == 400


def test_roles_gate_routes(api, workspace):
    viewer, operator = workspace.key("viewer"), workspace.key("operator")
    assert api.get("/v1/profiles", key=viewer).status == 200
    assert api.put("/v1/profiles/u1", {"attributes": {}}, key=viewer).status == 403
    assert api.put("/v1/profiles/u1", {"attributes": {}}, key=operator).status == 200
    assert api.get("/v1/api-keys", key=operator).status == 403
    r = api.post("/v1/api-keys", {"name": "k", "role": "admin"}, key=operator)
    assert r.status == 403 and r.json["code"] == "forbidden"


def test_api_key_secret_is_shown_once_and_stored_hashed(api, workspace):
    from chalicelib.models.workspaces import ApiKeyItem

    r = api.post("/v1/api-keys", {"name": "ci", "role": "operator"}, key=workspace.admin_key)
    assert r.status == 201
    secret = r.json["secret"]
    item = ApiKeyItem.get(workspace.id, "key#" + r.json["id"])
    assert secret.split(".")[-1] not in str(item.attribute_values)
    assert r.json["hint"] == secret[-4:]


def test_deleted_key_stops_working_at_once(api, workspace):
    r = api.post("/v1/api-keys", {"name": "temp", "role": "viewer"}, key=workspace.admin_key)
    secret, key_id = r.json["secret"], r.json["id"]
    assert api.get("/v1/workspace", key=secret).status == 200

    assert api.delete(f"/v1/api-keys/{key_id}", key=workspace.admin_key).status == 204

    assert api.get("/v1/workspace", key=secret).status == 401
    assert api.delete(f"/v1/api-keys/{key_id}", key=workspace.admin_key).status == 404


def test_the_last_admin_key_cannot_be_deleted(api, workspace):
    keys = api.get("/v1/api-keys", key=workspace.admin_key).json["items"]
    r = api.delete(f"/v1/api-keys/{keys[0]['id']}", key=workspace.admin_key)
    assert r.status == 409 and r.json["code"] == "invalid_state"


def test_api_key_role_is_validated(api, workspace):
    r = api.post("/v1/api-keys", {"name": "x", "role": "owner"}, key=workspace.admin_key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "role"


def test_another_workspaces_key_id_is_404(api, workspace, new_workspace):
    other = new_workspace("Other")
    other_key = api.post("/v1/api-keys", {"name": "o", "role": "viewer"}, key=other.admin_key).json["id"]
    assert api.delete(f"/v1/api-keys/{other_key}", key=workspace.admin_key).status == 404


def test_api_keys_list_pages_with_a_cursor(api, workspace):
    for n in range(3):
        api.post("/v1/api-keys", {"name": f"k{n}", "role": "viewer"}, key=workspace.admin_key)
    first = api.get("/v1/api-keys?limit=2", key=workspace.admin_key).json
    second = api.get(f"/v1/api-keys?limit=2&cursor={first['next_cursor']}", key=workspace.admin_key).json
    assert len(first["items"]) == 2 and len(second["items"]) == 2
    assert {k["id"] for k in first["items"]}.isdisjoint(k["id"] for k in second["items"])


def test_api_keys_list_in_creation_order(api, workspace):
    created = [api.post("/v1/api-keys", {"name": f"k{n}", "role": role}, key=workspace.admin_key).json["id"]
               for n, role in enumerate(["viewer", "admin", "operator", "viewer", "admin", "viewer"])]

    first = api.get("/v1/api-keys?limit=4", key=workspace.admin_key).json
    rest = api.get(f"/v1/api-keys?limit=4&cursor={first['next_cursor']}", key=workspace.admin_key).json

    listed = [k["id"] for k in first["items"] + rest["items"]]
    assert listed[1:] == created
    assert [k["name"] for k in first["items"] + rest["items"]][0] == "first admin key"


def test_the_org_admin_lists_every_workspace_in_creation_order_by_pages(api, new_workspace):
    made = [new_workspace(f"listed {n}").id for n in range(5)]

    seen: list[str] = []
    listed: dict[str, dict] = {}
    cursor = None
    limit = 2  # a small first page, then large ones: the session holds every test's workspaces
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = api.get("/v1/workspaces" + query, key=BOOTSTRAP_KEY)
        assert r.status == 200
        assert len(r.json["items"]) <= limit
        seen += [w["id"] for w in r.json["items"]]
        listed.update((w["id"], w) for w in r.json["items"])
        cursor, limit = r.json["next_cursor"], 200
        if not cursor:
            break

    assert [w for w in seen if w in made] == made
    assert len(seen) == len(set(seen))
    assert listed[made[0]]["name"] == "listed 0" and set(listed[made[0]]) >= {"timezone", "created_at"}


def test_a_workspace_list_cursor_from_another_list_is_refused(api, workspace):
    keys_cursor = api.get("/v1/api-keys?limit=1", key=workspace.key("admin")).json["next_cursor"]
    assert keys_cursor

    r = api.get(f"/v1/workspaces?cursor={keys_cursor}", key=BOOTSTRAP_KEY)

    assert r.status == 400 and r.json["errors"][0]["field"] == "cursor"
    assert api.get("/v1/workspaces?cursor=not-a-cursor", key=BOOTSTRAP_KEY).status == 400


def test_workspace_keys_cannot_list_workspaces(api, workspace):
    r = api.get("/v1/workspaces", key=workspace.admin_key)
    assert r.status == 403 and r.json["code"] == "forbidden"
