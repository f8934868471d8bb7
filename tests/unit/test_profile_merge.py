"""The profile decisions on plain data: merging upserts, and what an erasure does."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from hypothesis import given, settings, strategies as st

from chalicelib.profiles.profiles import (
    ErasureStep, blank, continuation_erases, erasure_step, merge, profile_items_to_erase,
)
from chalicelib.profiles.repo import ErasureState, ProfileRecord
from chalicelib.profiles.schemas import CHANNELS, ProfileUpsert

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)

names = st.sampled_from(["city", "age", "plan", "vip", "score"])
values = st.one_of(st.none(), st.integers(-1000, 1000), st.text(max_size=8), st.booleans())
channel_values = {
    "email": st.sampled_from(["a@example.com", "b@example.org"]),
    "phone": st.sampled_from(["+8613800000001", "+14155550100"]),
    "push_token": st.sampled_from(["tok-1", "tok-2"]),
    "wechat_openid": st.sampled_from(["oid-1", "oid-2"]),
    "whatsapp": st.sampled_from(["+8613800000002"]),
    "viber": st.sampled_from(["v-1", "v-2"]),
}


@st.composite
def upserts(draw: Any) -> ProfileUpsert:
    body: dict[str, Any] = {"attributes": draw(st.dictionaries(names, values, max_size=4))}
    for channel in draw(st.lists(st.sampled_from(CHANNELS), unique=True, max_size=3)):
        body[channel] = draw(st.one_of(st.none(), channel_values[channel]))
    return ProfileUpsert.model_validate(body)


def stored(**overrides: Any) -> ProfileRecord:
    record = blank("ws1", "u1", NOW)
    fields: dict[str, Any] = {"attributes": {"city": "Hangzhou", "age": 30}, "tags": frozenset({"vip"}), "version": 4,
                              "channels": {**dict.fromkeys(CHANNELS), "email": "old@example.com"}}
    fields.update(overrides)
    return ProfileRecord(**{**record.__dict__, **fields})


def reference(current: ProfileRecord, changes: list[ProfileUpsert]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The merge rules spelled out one change at a time."""
    attributes, channels = dict(current.attributes), dict(current.channels)
    for change in changes:
        for name, value in change.attributes.items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
        for channel in change.model_fields_set & set(CHANNELS):
            channels[channel] = getattr(change, channel)
    return attributes, channels


def test_given_attributes_are_set_null_removes_and_absent_ones_are_kept():
    after = merge(stored(), [ProfileUpsert(attributes={"age": 31, "city": None, "plan": "gold"})], LATER)

    assert after.attributes == {"age": 31, "plan": "gold"}
    assert after.channels["email"] == "old@example.com"


def test_a_channel_given_as_null_is_removed_and_an_absent_one_kept():
    after = merge(stored(), [ProfileUpsert.model_validate({"email": None, "phone": "+8613800000001"})], LATER)

    assert after.channels["email"] is None and after.channels["phone"] == "+8613800000001"


def test_a_merge_moves_the_version_on_by_one_and_keeps_tags_and_creation_time():
    before = stored()

    after = merge(before, [ProfileUpsert(attributes={"a": 1})], LATER)

    assert after.version == before.version + 1
    assert after.tags == before.tags and after.created_at == before.created_at
    assert after.updated_at == "2026-03-02T08:30:00.000Z"


def test_a_new_profile_is_written_at_version_one():
    assert merge(blank("ws1", "new", NOW), [ProfileUpsert()], NOW).version == 1


@settings(max_examples=200, deadline=None)
@given(changes=st.lists(upserts(), max_size=6))
def test_changes_apply_in_order_as_one_merge_each(changes):
    current = stored()

    together = merge(current, changes, LATER)
    one_by_one = current
    for change in changes:
        one_by_one = merge(one_by_one, [change], LATER)

    assert (together.attributes, together.channels) == reference(current, changes)
    assert (together.attributes, together.channels) == (one_by_one.attributes, one_by_one.channels)
    assert None not in together.attributes.values()
    assert together.tags == current.tags and together.version == current.version + 1


@settings(max_examples=100, deadline=None)
@given(change=upserts())
def test_merging_the_same_change_twice_changes_nothing_more(change):
    once = merge(stored(), [change], LATER)

    twice = merge(once, [change], LATER)

    assert (twice.attributes, twice.channels) == (once.attributes, once.channels)


def test_merge_leaves_the_record_it_was_given_alone():
    before = stored()
    attributes = dict(before.attributes)

    merge(before, [ProfileUpsert(attributes={"city": None, "x": 1})], LATER)

    assert before.attributes == attributes


# --- erasure -------------------------------------------------------------------------------

def test_a_stored_profile_is_erased_whether_or_not_it_was_erased_before():
    assert erasure_step(ErasureState(profile=True, erased_at=None)) is ErasureStep.ERASE
    assert erasure_step(ErasureState(profile=True, erased_at="2026-01-01T00:00:00.000Z")) is ErasureStep.ERASE


def test_a_tombstone_without_a_profile_is_an_erasure_already_done():
    assert erasure_step(ErasureState(profile=False, erased_at="2026-01-01T00:00:00.000Z")) is ErasureStep.ALREADY_ERASED


def test_neither_profile_nor_tombstone_is_not_found():
    assert erasure_step(ErasureState(profile=False, erased_at=None)) is ErasureStep.NOT_FOUND


@given(st.lists(st.one_of(st.sampled_from(["profile", "erased"]), st.text(max_size=12).map("stat#".__add__),
                          st.text(min_size=1, max_size=12)), unique=True))
def test_everything_but_the_tombstone_is_erased_and_the_profile_last(sks):
    first, profile_last = profile_items_to_erase(sks)

    assert "erased" not in first and "profile" not in first
    assert set(first) | ({"profile"} if profile_last else set()) == set(sks) - {"erased"}


def test_a_continuation_leaves_a_profile_made_after_the_erasure():
    erased = "2026-03-01T12:00:00.000Z"

    assert not continuation_erases(ErasureState(True, erased, profile_created_at="2026-03-01T12:00:05.000Z"))
    assert continuation_erases(ErasureState(True, erased, profile_created_at="2026-02-01T00:00:00.000Z"))
    assert continuation_erases(ErasureState(False, erased))
    assert continuation_erases(ErasureState(True, None, profile_created_at="2026-03-01T12:00:05.000Z"))
