"""Erasure (DELETE /v1/profiles/{user_id}): tombstone first, the continuation queued before
the synchronous part, events before the profile, and a queue that finishes what a failed
request started."""
from __future__ import annotations

from typing import Any


def _events(api, key: str, user_id: str, count: int, drain) -> None:
    api.post("/v1/events", {"events": [{"user_id": user_id, "name": "view", "event_id": f"e{n}",
                                        "timestamp": "2026-11-20T08:00:00+08:00"} for n in range(count)]}, key=key)
    drain()


def _left(workspace_id: str, user_id: str) -> tuple[int, list[str]]:
    """Items left under the user: in the events table (events and claims), and the sort
    keys in the profiles table (profile, aggregates, tombstone)."""
    from chalicelib.models.events import EventsTableItem
    from chalicelib.models.profiles import ProfilesTableItem

    pk = f"{workspace_id}#{user_id}"
    return EventsTableItem.count(pk), sorted(i.sk for i in ProfilesTableItem.query(pk))


def _queued_erasures() -> list[dict[str, Any]]:
    import json

    from chalicelib import aws
    from chalicelib.config import settings

    sqs = aws.sqs()
    url = aws.queue_url(settings.queue("events"))
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return [b for b in bodies if b["type"] == "erase_user"]


def test_an_erasure_that_fails_halfway_is_finished_by_the_queue(api, workspace, drain, monkeypatch):
    from chalicelib import dynamo
    from chalicelib.profiles import repo

    key = workspace.admin_key
    api.put("/v1/profiles/halfway", {"attributes": {"plan": "gold"}}, key=key)
    _events(api, key, "halfway", 60, drain)
    monkeypatch.setattr(repo, "KEYS_PAGE", 20)
    real_delete = dynamo.batch_delete
    calls = {"n": 0}

    def fails_after_the_first_call(table, keys):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("the network went away")
        return real_delete(table, keys)

    monkeypatch.setattr(dynamo, "batch_delete", fails_after_the_first_call)
    r = api.delete("/v1/profiles/halfway", key=key)
    monkeypatch.setattr(dynamo, "batch_delete", real_delete)

    assert r.status in (500, 503) and r.content_type.startswith("application/problem+json")
    events, items = _left(workspace.id, "halfway")
    assert events == 40  # the first 20 went, then the failure
    assert items == ["erased", "profile", "stat#view"]  # events go first: the profile still shows
    assert api.get("/v1/profiles/halfway", key=key).status == 200

    drain()  # the continuation was queued before the deletes began

    assert _left(workspace.id, "halfway") == (0, ["erased"])
    assert api.get("/v1/profiles/halfway", key=key).status == 404


def test_the_continuation_is_queued_before_anything_is_deleted(api, workspace, monkeypatch):
    from chalicelib.events import ingest
    from chalicelib.profiles import repo

    api.put("/v1/profiles/ordered", {}, key=workspace.admin_key)
    steps: list[str] = []
    for module, name in [(ingest, "enqueue_erase"), (repo, "put_tombstone"), (repo, "delete_events"),
                         (repo, "delete_profile_items"), (repo, "delete_profile")]:
        real = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, _real=real, _name=name, **kw: steps.append(_name) or _real(*a, **kw))

    assert api.delete("/v1/profiles/ordered", key=workspace.admin_key).status == 204

    assert steps == ["put_tombstone", "enqueue_erase", "delete_events", "delete_profile_items", "delete_profile"]


def test_a_repeated_delete_while_the_tombstone_stands_is_204(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/twice", {}, key=key)
    assert api.delete("/v1/profiles/twice", key=key).status == 204
    _queued_erasures()
    first = _tombstone_time(workspace.id, "twice")

    assert api.delete("/v1/profiles/twice", key=key).status == 204

    assert _tombstone_time(workspace.id, "twice") == first  # nothing happened again
    assert _queued_erasures() == []
    assert api.delete("/v1/profiles/never-existed", key=key).status == 404


def test_a_profile_made_again_after_an_erasure_is_erased_again_with_a_new_tombstone(api, workspace):
    from chalicelib import clock

    key = workspace.admin_key
    api.put("/v1/profiles/phoenix", {"attributes": {"life": 1}}, key=key)
    api.delete("/v1/profiles/phoenix", key=key)
    first = _tombstone_time(workspace.id, "phoenix")
    clock.advance(1)
    api.put("/v1/profiles/phoenix", {"attributes": {"life": 2}}, key=key)

    assert api.delete("/v1/profiles/phoenix", key=key).status == 204

    assert api.get("/v1/profiles/phoenix", key=key).status == 404
    assert _tombstone_time(workspace.id, "phoenix") > first


def test_the_continuation_delivered_twice_is_harmless(api, workspace, drain):
    from chalicelib.events import ingest

    key = workspace.admin_key
    api.put("/v1/profiles/dup", {"attributes": {"a": 1}}, key=key)
    _events(api, key, "dup", 30, drain)
    assert api.delete("/v1/profiles/dup", key=key).status == 204
    ingest.enqueue_erase(workspace.id, "dup")  # SQS delivers at least once

    assert drain() == 2  # both deliveries handled, neither failed nor re-queued itself

    assert _left(workspace.id, "dup") == (0, ["erased"])
    assert api.get("/v1/profiles/dup", key=key).status == 404


def test_the_continuation_requeues_itself_while_events_remain(api, workspace, drain, monkeypatch):
    from chalicelib.profiles import profiles

    key = workspace.admin_key
    api.put("/v1/profiles/slow", {}, key=key)
    _events(api, key, "slow", 90, drain)
    monkeypatch.setattr(profiles, "ERASE_SYNC_LIMIT", 20)
    monkeypatch.setattr(profiles, "ERASE_PER_MESSAGE", 20)

    assert api.delete("/v1/profiles/slow", key=key).status == 204
    assert _left(workspace.id, "slow")[0] == 70

    assert drain() == 4  # 70 events at 20 a message: 20, 20, 20, then the last 10 and the rest

    assert _left(workspace.id, "slow") == (0, ["erased"])


def test_a_late_continuation_leaves_a_profile_made_after_the_erasure_finished(api, workspace, drain):
    from chalicelib import clock

    key = workspace.admin_key
    api.put("/v1/profiles/back", {"attributes": {"life": 1}}, key=key)
    assert api.delete("/v1/profiles/back", key=key).status == 204  # finished in the request; its continuation waits
    clock.advance(1)
    api.put("/v1/profiles/back", {"attributes": {"life": 2}}, key=key)

    drain()

    assert api.get("/v1/profiles/back", key=key).json["attributes"] == {"life": 2}


def _tombstone_time(workspace_id: str, user_id: str) -> str:
    from chalicelib.models.profiles import ErasureItem

    return ErasureItem.get(f"{workspace_id}#{user_id}", "erased").erased_at
