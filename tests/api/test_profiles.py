"""Profiles and tags through the HTTP API."""
from __future__ import annotations

import pytest


def tombstone_floor(erased_at: str) -> int:
    """Epoch seconds 18 days after the erasure: queued events can wait 4 + 14 days."""
    from datetime import timedelta

    from chalicelib import clock

    return int((clock.parse_iso(erased_at) + timedelta(days=18)).timestamp())


def test_put_creates_then_merges_a_profile(api, workspace):
    key = workspace.admin_key
    r = api.put("/v1/profiles/alice", {"attributes": {"city": "Hangzhou", "age": 30}, "email": "a@example.com"}, key=key)
    assert r.status == 200
    assert r.json["attributes"] == {"city": "Hangzhou", "age": 30}

    r = api.put("/v1/profiles/alice", {"attributes": {"age": 31, "city": None, "plan": "gold"}, "phone": "+8613800000001"}, key=key)

    assert r.status == 200
    got = api.get("/v1/profiles/alice", key=key).json
    assert got["attributes"] == {"age": 31, "plan": "gold"}
    assert got["email"] == "a@example.com" and got["phone"] == "+8613800000001"
    assert got["tags"] == [] and got["event_stats"] == {}
    assert got["created_at"] <= got["updated_at"]


def test_null_channel_address_is_removed(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/bob", {"email": "b@example.com"}, key=key)
    api.put("/v1/profiles/bob", {"email": None}, key=key)
    assert api.get("/v1/profiles/bob", key=key).json["email"] is None


def test_put_validates_fields_by_name(api, workspace):
    r = api.put("/v1/profiles/carol", {"attributes": {"bad name!": 1}, "phone": "12345", "email": "nope", "colour": "red"},
                key=workspace.admin_key)
    assert r.status == 400
    assert r.content_type.startswith("application/problem+json")
    fields = {e["field"] for e in r.json["errors"]}
    assert fields == {'attributes["bad name!"]', "phone", "email", "colour"}
    assert api.get("/v1/profiles/carol", key=workspace.admin_key).status == 404


def test_unknown_profile_is_404(api, workspace):
    r = api.get("/v1/profiles/nobody", key=workspace.admin_key)
    assert r.status == 404 and r.json["code"] == "not_found"


def test_another_workspaces_profile_is_404(api, workspace, new_workspace):
    other = new_workspace("Other")
    api.put("/v1/profiles/secret-user", {"attributes": {"x": 1}}, key=other.admin_key)

    assert api.get("/v1/profiles/secret-user", key=workspace.admin_key).status == 404
    assert api.delete("/v1/profiles/secret-user", key=workspace.admin_key).status == 404
    assert api.post("/v1/profiles/secret-user/tags", {"add": ["x"]}, key=workspace.admin_key).status == 404
    assert api.get("/v1/profiles/secret-user/events", key=workspace.admin_key).status == 404
    assert api.get("/v1/profiles", key=workspace.admin_key).json["items"] == []
    assert api.get("/v1/profiles/secret-user", key=other.admin_key).status == 200


def test_list_profiles_pages_with_a_cursor(api, workspace):
    for n in range(5):
        api.put(f"/v1/profiles/p{n}", {"attributes": {"n": n}}, key=workspace.admin_key)
    seen, cursor = [], None
    for _ in range(5):
        path = "/v1/profiles?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(path, key=workspace.admin_key).json
        seen += [p["user_id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [f"p{n}" for n in range(5)]


def test_list_limit_and_cursor_are_validated(api, workspace, new_workspace):
    assert api.get("/v1/profiles?limit=500", key=workspace.admin_key).json["errors"][0]["field"] == "limit"
    r = api.get("/v1/profiles?cursor=garbage", key=workspace.admin_key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "cursor"
    other = new_workspace("Other")
    for n in range(3):
        api.put(f"/v1/profiles/o{n}", {}, key=other.admin_key)
    foreign = api.get("/v1/profiles?limit=1", key=other.admin_key).json["next_cursor"]
    assert api.get(f"/v1/profiles?cursor={foreign}", key=workspace.admin_key).status == 400


def test_batch_keeps_good_items_and_reports_bad_ones_by_index(api, workspace):
    r = api.post("/v1/profiles:batch", {"profiles": [
        {"user_id": "b1", "attributes": {"tier": "a"}},
        {"user_id": "b2", "phone": "not-a-phone"},
        {"attributes": {}},
        {"user_id": "b1", "attributes": {"seen": True}},
    ]}, key=workspace.admin_key)

    assert r.status == 200
    assert r.json["accepted"] == 2
    assert [(e["index"], e["errors"][0]["field"]) for e in r.json["errors"]] == [
        (1, "profiles[1].phone"), (2, "profiles[2].user_id")]
    assert api.get("/v1/profiles/b1", key=workspace.admin_key).json["attributes"] == {"tier": "a", "seen": True}
    assert api.get("/v1/profiles/b2", key=workspace.admin_key).status == 404


def test_batch_of_1000_profiles_is_accepted_and_more_is_refused(api, workspace):
    profiles = [{"user_id": f"bulk-{n:04d}", "attributes": {"n": n}} for n in range(1000)]
    r = api.post("/v1/profiles:batch", {"profiles": profiles}, key=workspace.admin_key)
    assert r.status == 200 and r.json["accepted"] == 1000
    assert api.get("/v1/profiles/bulk-0999", key=workspace.admin_key).json["attributes"] == {"n": 999}
    too_many = api.post("/v1/profiles:batch", {"profiles": profiles + [{"user_id": "x"}]}, key=workspace.admin_key)
    assert too_many.status == 400 and too_many.json["errors"][0]["field"] == "profiles"


def test_tags_are_added_and_removed(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/t1", {}, key=key)
    r = api.post("/v1/profiles/t1/tags", {"add": ["vip", "newsletter"]}, key=key)
    assert r.status == 200 and r.json["tags"] == ["newsletter", "vip"]
    r = api.post("/v1/profiles/t1/tags", {"add": ["beta"], "remove": ["vip"]}, key=key)
    assert r.json["tags"] == ["beta", "newsletter"]
    again = api.post("/v1/profiles/t1/tags", {"add": ["beta"], "remove": ["vip"]}, key=key)
    assert again.json["tags"] == ["beta", "newsletter"]
    assert api.get("/v1/profiles/t1", key=key).json["tags"] == ["beta", "newsletter"]


def test_tag_changes_are_validated(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/t2", {}, key=key)
    assert api.post("/v1/profiles/t2/tags", {}, key=key).status == 400
    r = api.post("/v1/profiles/t2/tags", {"add": ["a"], "remove": ["a"]}, key=key)
    assert r.status == 400
    r = api.post("/v1/profiles/t2/tags", {"add": ["a,b"]}, key=key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "add[0]"
    assert api.post("/v1/profiles/nobody/tags", {"add": ["a"]}, key=key).status == 404


def test_a_profile_holds_a_bounded_number_of_tags(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/t3", {}, key=key)
    for start in range(0, 200, 50):
        assert api.post("/v1/profiles/t3/tags", {"add": [f"t{n}" for n in range(start, start + 50)]}, key=key).status == 200
    r = api.post("/v1/profiles/t3/tags", {"add": ["one-too-many"]}, key=key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "add"


def test_delete_erases_profile_events_and_aggregates(api, workspace, drain):
    key = workspace.admin_key
    api.post("/v1/events", {"events": [{"user_id": "gone", "name": "purchase", "properties": {"amount": 5}}]}, key=key)
    drain()
    assert api.get("/v1/profiles/gone", key=key).json["event_stats"]["purchase"]["count"] == 1

    assert api.delete("/v1/profiles/gone", key=key).status == 204

    assert api.get("/v1/profiles/gone", key=key).status == 404
    from chalicelib.models.events import EventItem
    from chalicelib.models.profiles import ErasureItem, ProfilesTableItem

    assert list(EventItem.query(f"{workspace.id}#gone")) == []
    assert [i.sk for i in ProfilesTableItem.query(f"{workspace.id}#gone")] == ["erased"]  # the tombstone alone
    tombstone = ErasureItem.get(f"{workspace.id}#gone", "erased")
    assert tombstone.expires_at > tombstone_floor(tombstone.erased_at)
    assert api.delete("/v1/profiles/gone", key=key).status == 204  # erased already (see test_erasure.py)


def test_erasing_a_user_with_many_events_continues_through_the_queue(api, workspace, drain, monkeypatch):
    from chalicelib.models.events import EventItem
    from chalicelib.profiles import profiles

    key = workspace.admin_key
    events = [{"user_id": "heavy", "name": "view", "event_id": f"e{n}"} for n in range(500)]
    api.post("/v1/events", {"events": events}, key=key)
    api.post("/v1/events", {"events": [dict(e, event_id=e["event_id"] + "b") for e in events]}, key=key)
    drain()
    monkeypatch.setattr(profiles, "ERASE_SYNC_LIMIT", 500)

    assert api.delete("/v1/profiles/heavy", key=key).status == 204
    assert EventItem.count(f"{workspace.id}#heavy") > 0  # events go first; the profile shows until they are gone

    drain()

    assert EventItem.count(f"{workspace.id}#heavy") == 0
    assert api.get("/v1/profiles/heavy", key=key).status == 404


def test_a_concurrent_profile_write_is_never_overwritten(api, workspace, monkeypatch):
    """Another writer changes the profile between our read and our put: we re-read and merge."""
    from chalicelib import clock
    from chalicelib.profiles import profiles, repo
    from chalicelib.profiles.schemas import ProfileUpsert

    key = workspace.admin_key
    api.put("/v1/profiles/race", {"attributes": {"a": 1}}, key=key)
    original = repo.read_profiles
    reads = {"n": 0}

    def racing_read(workspace_id, users):
        found = original(workspace_id, users)
        reads["n"] += 1
        if reads["n"] == 1:
            monkeypatch.setattr(repo, "read_profiles", original)
            profiles.upsert_many(workspace_id, [("race", ProfileUpsert(attributes={"b": 2}))], clock.now())
            monkeypatch.setattr(repo, "read_profiles", racing_read)
        return found

    monkeypatch.setattr(repo, "read_profiles", racing_read)
    r = api.put("/v1/profiles/race", {"attributes": {"c": 3}}, key=key)

    assert r.status == 200
    assert reads["n"] == 2
    assert api.get("/v1/profiles/race", key=key).json["attributes"] == {"a": 1, "b": 2, "c": 3}


def test_events_queued_before_an_erasure_are_not_stored_after_it(api, workspace, drain):
    key = workspace.admin_key
    api.post("/v1/events", {"events": [{"user_id": "forget-me", "name": "view"}]}, key=key)
    drain()
    api.post("/v1/events", {"events": [{"user_id": "forget-me", "name": "purchase", "event_id": "late"}]}, key=key)

    assert api.delete("/v1/profiles/forget-me", key=key).status == 204
    drain()  # the queued event arrives after the erasure

    assert api.get("/v1/profiles/forget-me", key=key).status == 404
    from chalicelib.models.events import EventItem

    assert EventItem.count(f"{workspace.id}#forget-me") == 0


def test_events_after_an_erasure_start_a_new_profile(api, workspace, drain):
    key = workspace.admin_key
    api.put("/v1/profiles/returning", {"attributes": {"old": True}}, key=key)
    api.delete("/v1/profiles/returning", key=key)

    api.post("/v1/events", {"events": [{"user_id": "returning", "name": "signup"}]}, key=key)
    drain()

    profile = api.get("/v1/profiles/returning", key=key).json
    assert profile["attributes"] == {} and profile["event_stats"]["signup"]["count"] == 1


# hostile input (issue 11): refused with the field, never a 500, never half-written

def test_an_attribute_dynamodb_would_refuse_is_a_400_naming_it_and_nothing_is_written(api, workspace):
    key = workspace.admin_key
    for attributes, field in (({"score": 1e130}, "attributes.score"), ({"score": 1e-200}, "attributes.score"),
                              ({"ids": [1, 10 ** 39 + 1]}, "attributes.ids[1]")):
        r = api.put("/v1/profiles/hostile-1", {"attributes": attributes}, key=key)

        assert r.status == 400 and [e["field"] for e in r.json["errors"]] == [field]
    assert api.get("/v1/profiles/hostile-1", key=key).status == 404


def test_a_batch_reports_bad_items_by_index_with_their_field_and_keeps_the_good_ones(api, workspace):
    key = workspace.admin_key
    r = api.post("/v1/profiles:batch", {"profiles": [
        {"user_id": "good-1", "attributes": {"plan": "pro"}},
        {"user_id": "bad-1", "attributes": {"score": 1e-200}},
        {"user_id": "bad-2", "attributes": {"": 1}},
        {"user_id": " bad-3"},
        {"user_id": "bad-4", "attributes": {"n": 10 ** 39 + 1}},
        {"user_id": "good-2", "attributes": {"score": 1e-130}},
    ]}, key=key)

    assert r.status == 200, r.json
    assert r.json["accepted"] == 2
    assert [(e["index"], e["errors"][0]["field"]) for e in r.json["errors"]] == [
        (1, "profiles[1].attributes.score"), (2, 'profiles[2].attributes[""]'), (3, "profiles[3].user_id"),
        (4, "profiles[4].attributes.n")]
    assert r.json["errors"][2]["errors"][0]["message"].startswith("a user id is 1-128 characters")
    for user_id in ("good-1", "good-2"):
        assert api.get(f"/v1/profiles/{user_id}", key=key).status == 200
    for user_id in ("bad-1", "bad-2", "bad-4"):
        assert api.get(f"/v1/profiles/{user_id}", key=key).status == 404


def test_a_tag_that_cannot_be_stored_is_refused_at_its_index(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/hostile-2", {}, key=key)

    r = api.post("/v1/profiles/hostile-2/tags", {"add": ["ok", "bad\x7f"]}, key=key)
    assert r.status == 400 and [e["field"] for e in r.json["errors"]] == ["add[1]"]
    surrogate = api.post("/v1/profiles/hostile-2/tags", raw=b'{"add": ["x\\udc00"]}', key=key)
    assert surrogate.status == 400 and surrogate.json["errors"][0]["field"] == "add[0]"
    assert api.get("/v1/profiles/hostile-2", key=key).json["tags"] == []


def test_a_channel_address_is_taken_as_given_not_trimmed(api, workspace):
    r = api.put("/v1/profiles/hostile-3", {"email": " a@example.com"}, key=workspace.admin_key)

    assert r.status == 400 and r.json["errors"] == [
        {"field": "email", "message": "an email address such as someone@example.com"}]


def test_a_profile_that_would_grow_past_the_caps_when_merged_is_refused_and_nothing_written(api, workspace):
    key = workspace.admin_key
    first = {f"a{n}": n for n in range(150)}
    assert api.put("/v1/profiles/grower", {"attributes": first}, key=key).status == 200

    r = api.put("/v1/profiles/grower", {"attributes": {f"b{n}": n for n in range(60)}}, key=key)

    assert r.status == 400 and r.json["errors"][0]["field"] == "attributes"
    assert "at most 200" in r.json["errors"][0]["message"]
    assert len(api.get("/v1/profiles/grower", key=key).json["attributes"]) == 150


def test_a_batch_item_that_would_grow_past_the_caps_is_reported_by_index_and_the_rest_kept(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/big", {"attributes": {"text": "x" * 2000, **{f"t{n}": "y" * 2000 for n in range(6)}}}, key=key)

    r = api.post("/v1/profiles:batch", {"profiles": [
        {"user_id": "fine", "attributes": {"a": 1}},
        {"user_id": "big", "attributes": {f"u{n}": "z" * 2000 for n in range(3)}},
        {"user_id": "also-fine", "attributes": {"b": 2}},
    ]}, key=key)

    assert r.status == 200 and r.json["accepted"] == 2
    assert [(e["index"], e["errors"][0]["field"]) for e in r.json["errors"]] == [(1, "profiles[1].attributes")]
    assert api.get("/v1/profiles/fine", key=key).status == 200
    assert api.get("/v1/profiles/also-fine", key=key).status == 200
    assert "u0" not in api.get("/v1/profiles/big", key=key).json["attributes"]


def test_profiles_are_found_by_email_in_any_case_and_by_phone_in_any_spacing(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/ann", {"email": "Ann@Example.com", "phone": "+8613800138000"}, key=key)
    api.put("/v1/profiles/ann-work", {"email": "ann@example.com"}, key=key)
    api.put("/v1/profiles/bob", {"email": "bob@example.com"}, key=key)
    api.put("/v1/profiles/nobody", {"attributes": {"a": 1}}, key=key)

    by_email = api.get("/v1/profiles?email=ANN%40example.com", key=key)
    by_phone = api.get("/v1/profiles?phone=%2B86%20138%200013%208000", key=key)

    assert by_email.status == 200 and [p["user_id"] for p in by_email.json["items"]] == ["ann", "ann-work"]
    assert by_email.json["next_cursor"] is None
    assert [p["user_id"] for p in by_phone.json["items"]] == ["ann"]
    assert api.get("/v1/profiles?email=none%40example.com", key=key).json["items"] == []


def test_an_address_lookup_follows_changes_and_erasure(api, workspace, drain):
    key = workspace.admin_key
    api.put("/v1/profiles/mover", {"email": "old@example.com"}, key=key)
    api.put("/v1/profiles/mover", {"email": "new@example.com"}, key=key)
    assert api.get("/v1/profiles?email=old%40example.com", key=key).json["items"] == []
    assert len(api.get("/v1/profiles?email=new%40example.com", key=key).json["items"]) == 1

    api.put("/v1/profiles/mover", {"email": None}, key=key)
    assert api.get("/v1/profiles?email=new%40example.com", key=key).json["items"] == []

    api.put("/v1/profiles/gone", {"phone": "+14155550100"}, key=key)
    assert api.delete("/v1/profiles/gone", key=key).status == 204
    drain()
    assert api.get("/v1/profiles?phone=%2B14155550100", key=key).json["items"] == []


def test_address_lookups_stay_in_their_workspace(api, workspace, new_workspace):
    other = new_workspace("Other")
    api.put("/v1/profiles/mine", {"email": "shared@example.com"}, key=workspace.admin_key)
    api.put("/v1/profiles/theirs", {"email": "shared@example.com"}, key=other.admin_key)

    found = api.get("/v1/profiles?email=shared%40example.com", key=workspace.admin_key).json["items"]

    assert [p["user_id"] for p in found] == ["mine"]


@pytest.mark.parametrize("query, field", [
    ("email=a%40b.co&phone=%2B14155550100", "body"),
    ("phone=12345", "phone"),
    ("phone=%2B1", "phone"),
    ("email=not-an-email", "email"),
    ("email=a%40b.co&cursor=abc", "body"),
])
def test_bad_address_lookups_are_400s_naming_the_field(api, workspace, query, field):
    r = api.get(f"/v1/profiles?{query}", key=workspace.admin_key)

    assert r.status == 400, r.json
    assert r.json["errors"][0]["field"] == field
