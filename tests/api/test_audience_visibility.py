"""Private and public audiences with two keys, list filters, and delete refused while in use."""
from __future__ import annotations

import pytest

from chalicelib.audiences import usage
from chalicelib.errors import NotFound

RULE = {"type": "rules", "match": "all", "conditions": [{"attribute": "city", "op": "eq", "value": "Hangzhou"}]}


def create(api, key, name, visibility, drain, source=RULE) -> str:
    r = api.post("/v1/audiences", {"name": name, "visibility": visibility, "source": source}, key=key)
    assert r.status == 202, r.json
    drain()
    return r.json["id"]


@pytest.fixture
def two_keys(api, workspace):
    api.put("/v1/profiles/h1", {"attributes": {"city": "Hangzhou"}}, key=workspace.admin_key)
    return workspace.key("operator"), workspace.key("operator")


def test_another_keys_private_audience_is_404_on_every_route(api, workspace, drain, two_keys):
    mine, theirs = two_keys
    audience_id = create(api, mine, "mine", "private", drain)
    upload_id = create(api, mine, "my list", "private", drain, {"type": "upload", "id_type": "user_id"})

    calls = [("get", f"/v1/audiences/{audience_id}"), ("get", f"/v1/audiences/{audience_id}/members"),
             ("post", f"/v1/audiences/{audience_id}/refresh"), ("post", f"/v1/audiences/{audience_id}/build"),
             ("post", f"/v1/audiences/{upload_id}/upload-url"), ("delete", f"/v1/audiences/{audience_id}")]
    for method, path in calls:
        r = getattr(api, method)(path, key=theirs)
        assert r.status == 404 and r.json["code"] == "not_found", (method, path, r.json)

    assert api.get(f"/v1/audiences/{audience_id}", key=mine).status == 200
    assert api.get(f"/v1/audiences/{audience_id}/members", key=mine).json["items"] == ["h1"]
    assert api.get(f"/v1/audiences/{audience_id}", key=workspace.admin_key).status == 200
    assert api.post(f"/v1/audiences/{upload_id}/upload-url", key=workspace.admin_key).status == 200


def test_a_public_audience_is_seen_and_used_by_every_key(api, workspace, drain, two_keys):
    mine, theirs = two_keys
    audience_id = create(api, mine, "shared", "public", drain)

    assert api.get(f"/v1/audiences/{audience_id}/members", key=theirs).json["items"] == ["h1"]
    assert api.post(f"/v1/audiences/{audience_id}/refresh", key=theirs).status == 202
    assert api.delete(f"/v1/audiences/{audience_id}", key=theirs).status == 204


def test_the_list_hides_other_keys_private_audiences_and_filters(api, workspace, drain, two_keys):
    mine, theirs = two_keys
    private = create(api, mine, "Hangzhou private", "private", drain)
    public = create(api, theirs, "Hangzhou shared", "public", drain)
    waiting = create(api, theirs, "store list", "private", drain, {"type": "upload", "id_type": "phone"})

    def listed(key, query=""):
        r = api.get(f"/v1/audiences{query}", key=key)
        assert r.status == 200, r.json
        return [a["id"] for a in r.json["items"]]

    assert listed(mine) == [private, public]
    assert listed(theirs) == [public, waiting]
    assert listed(workspace.admin_key) == [private, public, waiting]
    assert listed(workspace.admin_key, "?name=HANGZHOU") == [private, public]  # part of the name, any case
    assert listed(workspace.admin_key, "?name=zhou%20sh") == [public]
    assert listed(workspace.admin_key, "?type=upload") == [waiting]
    assert listed(workspace.admin_key, "?status=awaiting_upload") == [waiting]
    assert listed(mine, "?status=ready&type=rules") == [private, public]


def test_delete_is_refused_with_409_while_a_task_or_journey_uses_the_audience(api, workspace, drain):
    key = workspace.admin_key
    audience_id = create(api, key, "in use", "public", drain)
    assert usage.acquire(workspace.id, audience_id, "task", "task_1") is True
    assert usage.acquire(workspace.id, audience_id, "task", "task_1") is False  # idempotent
    usage.acquire(workspace.id, audience_id, "journey", "jrn_7")

    r = api.delete(f"/v1/audiences/{audience_id}", key=key)

    assert r.status == 409 and r.json["code"] == "in_use"
    assert "task task_1" in r.json["detail"] and "journey jrn_7" in r.json["detail"]
    usage.release(workspace.id, audience_id, "task", "task_1")
    assert api.delete(f"/v1/audiences/{audience_id}", key=key).status == 409  # the journey still runs
    assert usage.release(workspace.id, audience_id, "journey", "jrn_7") is True
    assert usage.release(workspace.id, audience_id, "journey", "jrn_7") is False
    assert api.delete(f"/v1/audiences/{audience_id}", key=key).status == 204
    with pytest.raises(NotFound):
        usage.acquire(workspace.id, audience_id, "task", "task_2")  # nothing starts on a deleted audience


def test_a_use_that_slips_in_after_the_check_still_blocks_the_delete(api, workspace, drain, monkeypatch):
    from chalicelib.audiences import repo

    key = workspace.admin_key
    audience_id = create(api, key, "raced", "public", drain)
    real = repo.delete_unused_audience

    def acquire_first(ws, aud):  # a task starts between delete's Query and its conditional delete
        usage.acquire(ws, aud, "task", "late_task")
        return real(ws, aud)

    monkeypatch.setattr(repo, "delete_unused_audience", acquire_first)
    r = api.delete(f"/v1/audiences/{audience_id}", key=key)

    assert r.status == 409 and "task late_task" in r.json["detail"]
    assert api.get(f"/v1/audiences/{audience_id}", key=key).status == 200
