"""Write races, run for real: threads released together against moto, and deterministic
interleavings with a hook between a read and its conditional write."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.errors import Conflict, Unavailable


def run_together(*jobs: Callable[[], Any]) -> list[Any]:
    """Run each job in its own thread, all released at once by a barrier; re-raise failures."""
    barrier = threading.Barrier(len(jobs))

    def start(job: Callable[[], Any]) -> Any:
        barrier.wait()
        return job()

    with ThreadPoolExecutor(max_workers=len(jobs)) as pool:
        futures = [pool.submit(start, job) for job in jobs]
        return [f.result() for f in futures]


def as_a_client_would(call: Callable[[], Any], tries: int = 20) -> Any:
    """Retry a 503 the way a client honouring Retry-After would (without the wait)."""
    for _ in range(tries - 1):
        try:
            return call()
        except Unavailable:
            continue
    return call()


# --- profiles: tags and upserts ------------------------------------------------------------

def test_a_tag_added_between_an_upserts_read_and_its_write_is_kept(api, workspace, monkeypatch):
    from chalicelib.profiles import repo, tags
    from chalicelib.profiles.schemas import TagsChange

    key = workspace.admin_key
    api.put("/v1/profiles/racer", {"attributes": {"a": 1}}, key=key)
    original = repo.read_profiles
    reads = {"n": 0}

    def read_then_tag(workspace_id, users):
        found = original(workspace_id, users)
        reads["n"] += 1
        if reads["n"] == 1:  # the upsert has read; another request tags the profile now
            tags.change(workspace_id, "racer", TagsChange(add=["vip"]), clock.now())
        return found

    monkeypatch.setattr(repo, "read_profiles", read_then_tag)
    r = api.put("/v1/profiles/racer", {"attributes": {"b": 2}}, key=key)

    assert r.status == 200
    assert reads["n"] == 2  # the upsert's write lost the race and it read again
    got = api.get("/v1/profiles/racer", key=key).json
    assert got["tags"] == ["vip"] and got["attributes"] == {"a": 1, "b": 2}


def test_tags_added_while_the_profile_is_upserted_concurrently_are_all_kept(workspace):
    from chalicelib.profiles import profiles, tags
    from chalicelib.profiles.schemas import ProfileUpsert, TagsChange

    ws, user = workspace.id, "contended"
    profiles.upsert(ws, user, ProfileUpsert(attributes={}), clock.now())
    writers, taggers, rounds = 3, 3, 10

    def upserter(n: int) -> Callable[[], None]:
        def run() -> None:
            for r in range(rounds):
                change = ProfileUpsert(attributes={f"w{n}": r})
                as_a_client_would(lambda: profiles.upsert(ws, user, change, clock.now()))
        return run

    def tagger(n: int) -> Callable[[], None]:
        def run() -> None:
            for r in range(rounds):
                tags.change(ws, user, TagsChange(add=[f"t{n}-{r}"]), clock.now())
        return run

    run_together(*[upserter(n) for n in range(writers)], *[tagger(n) for n in range(taggers)])

    final = profiles.get(ws, user)
    assert set(final.tags) == {f"t{n}-{r}" for n in range(taggers) for r in range(rounds)}
    assert final.attributes == {f"w{n}": rounds - 1 for n in range(writers)}


def test_giving_up_after_repeated_lost_races_is_a_503_with_retry_after(api, workspace, monkeypatch):
    from chalicelib import dynamo
    from chalicelib.profiles import repo

    monkeypatch.setattr(repo, "put_profile", lambda record, expected: False)  # every write loses
    monkeypatch.setattr(dynamo, "backoff", lambda attempt: None)

    r = api.put("/v1/profiles/always-losing", {"attributes": {"a": 1}}, key=workspace.admin_key)

    assert r.status == 503
    assert r.content_type.startswith("application/problem+json")
    assert r.json["code"] == "unavailable"
    assert int(r.headers["Retry-After"]) >= 1


def test_every_error_that_names_a_retry_delay_carries_retry_after():
    from chalicelib.api.http import problem_response
    from chalicelib.errors import AppError

    assert problem_response(Unavailable("busy", retry_after=7)).headers["Retry-After"] == "7"
    assert "Retry-After" not in problem_response(AppError("boom")).headers
    assert "Retry-After" not in problem_response(Conflict("invalid_state", "no")).headers


# --- API keys: the last admin key --------------------------------------------------------

def _create_admin_key(workspace_id: str, name: str) -> str:
    from chalicelib.tenancy import keys
    from chalicelib.tenancy.schemas import ApiKeyCreate, Role

    return keys.create(workspace_id, ApiKeyCreate(name=name, role=Role.admin), clock.now()).id


def _admin_keys(workspace_id: str) -> list[str]:
    from chalicelib.models.workspaces import KEY_PREFIX, ApiKeyItem

    return [k.key_id for k in ApiKeyItem.query(workspace_id, ApiKeyItem.sk.startswith(KEY_PREFIX)) if k.role == "admin"]


def test_two_concurrent_deletes_of_the_two_admin_keys_keep_one(workspace):
    from chalicelib.tenancy import keys

    def delete(key_id: str) -> Callable[[], str]:
        def run() -> str:
            try:
                keys.delete(workspace.id, key_id)
                return "deleted"
            except Conflict as error:
                assert error.code == "invalid_state"
                return "refused"
        return run

    for round_ in range(30):
        while len(_admin_keys(workspace.id)) < 2:
            _create_admin_key(workspace.id, f"round {round_}")
        first, second = _admin_keys(workspace.id)

        outcomes = run_together(delete(first), delete(second))

        assert sorted(outcomes) == ["deleted", "refused"], f"round {round_}"
        assert len(_admin_keys(workspace.id)) == 1


def test_a_workspace_without_an_admin_key_count_counts_its_keys_once(api, workspace):
    from chalicelib.models.workspaces import WORKSPACE_SK, WorkspaceItem
    from chalicelib.tenancy import keys

    second = _create_admin_key(workspace.id, "second")
    WorkspaceItem(workspace.id, WORKSPACE_SK).update(actions=[WorkspaceItem.admin_keys.remove()])  # as before counts existed

    keys.delete(workspace.id, second)

    assert WorkspaceItem.get(workspace.id, WORKSPACE_SK).admin_keys == 1
    last = _admin_keys(workspace.id)[0]
    r = api.delete(f"/v1/api-keys/{last}", key=workspace.admin_key)
    assert r.status == 409 and r.json["code"] == "invalid_state"


def test_creating_and_deleting_admin_keys_moves_the_count(api, workspace):
    from chalicelib.models.workspaces import WORKSPACE_SK, WorkspaceItem

    def count() -> int:
        return int(WorkspaceItem.get(workspace.id, WORKSPACE_SK).admin_keys)

    assert count() == 1
    admin = api.post("/v1/api-keys", {"name": "a2", "role": "admin"}, key=workspace.admin_key).json["id"]
    viewer = api.post("/v1/api-keys", {"name": "v", "role": "viewer"}, key=workspace.admin_key).json["id"]
    assert count() == 2
    assert api.delete(f"/v1/api-keys/{viewer}", key=workspace.admin_key).status == 204
    assert count() == 2
    assert api.delete(f"/v1/api-keys/{admin}", key=workspace.admin_key).status == 204
    assert count() == 1


@pytest.mark.parametrize("role", ["viewer", "admin"])
def test_deleting_a_key_that_is_already_gone_is_404(api, workspace, role):
    from chalicelib.tenancy import keys

    key_id = api.post("/v1/api-keys", {"name": "x", "role": role}, key=workspace.admin_key).json["id"]
    keys.delete(workspace.id, key_id)

    r = api.delete(f"/v1/api-keys/{key_id}", key=workspace.admin_key)
    assert r.status == 404 and r.json["code"] == "not_found"
