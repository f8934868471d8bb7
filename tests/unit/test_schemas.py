"""Request validation: a 400 whose errors name the field path and say what is wrong."""
from __future__ import annotations

import pytest

from chalicelib.errors import Invalid
from chalicelib.events.schemas import MAX_PROPERTIES_BYTES, EventIn, EventsPost
from chalicelib.profiles.schemas import TAG_RULE, ProfileBatchItem, ProfileUpsert, TagsChange
from chalicelib.schemas import parse


def refusal(model, data) -> dict[str, str]:
    """The field -> message map of the Invalid that parsing raises."""
    with pytest.raises(Invalid) as refused:
        parse(model, data)
    assert refused.value.status == 400
    return {e.field: e.message for e in refused.value.errors}


def event(**fields):
    return {"user_id": "u1", "name": "purchase", **fields}


# events

def test_a_valid_event_batch_parses():
    post = parse(EventsPost, {"events": [event(event_id="ev-1", timestamp="2026-11-22T09:00:00+08:00",
                                                 properties={"amount": 9.99})]})

    assert post.events[0].event_id == "ev-1" and post.events[0].properties == {"amount": 9.99}


def test_an_event_timestamp_without_an_offset_is_refused_at_its_path():
    errors = refusal(EventsPost, {"events": [event(), event(timestamp="2026-11-22T09:00:00")]})

    assert list(errors) == ["events[1].timestamp"]
    assert "offset" in errors["events[1].timestamp"]


def test_an_event_timestamp_that_is_not_a_time_is_refused():
    assert list(refusal(EventIn, event(timestamp="next tuesday"))) == ["timestamp"]


def test_event_properties_over_8_kb_are_refused():
    errors = refusal(EventIn, event(properties={"note": "x" * MAX_PROPERTIES_BYTES}))

    assert list(errors) == ["properties"]
    assert str(MAX_PROPERTIES_BYTES) in errors["properties"]


def test_event_properties_just_under_8_kb_are_accepted():
    padding = MAX_PROPERTIES_BYTES - len('{"note": ""}')

    assert parse(EventIn, event(properties={"note": "x" * padding})).properties["note"] == "x" * padding


def test_an_unknown_event_field_is_refused_as_unknown():
    assert refusal(EventsPost, {"events": [event(colour="red")]}) == {"events[0].colour": "unknown field"}


def test_an_event_batch_needs_at_least_one_event_and_at_most_500():
    assert list(refusal(EventsPost, {"events": []})) == ["events"]
    assert list(refusal(EventsPost, {"events": [event()] * 501})) == ["events"]


def test_a_missing_event_field_is_named():
    assert list(refusal(EventsPost, {"events": [{"name": "purchase"}]})) == ["events[0].user_id"]


@pytest.mark.parametrize("name", ["1st", "", "has space", "x" * 65])
def test_a_badly_formed_event_name_is_refused(name):
    assert list(refusal(EventIn, event(name=name))) == ["name"]


def test_every_bad_field_of_a_batch_is_reported():
    errors = refusal(EventsPost, {"events": [event(name="1st"), event(timestamp="2026-01-01T00:00:00")]})

    assert set(errors) == {"events[0].name", "events[1].timestamp"}


# profiles

def test_a_profile_upsert_keeps_valid_channels_as_given():
    upsert = parse(ProfileUpsert, {"phone": "+8613800138000", "email": "a@example.com", "attributes": {"plan": "pro"}})

    assert upsert.phone == "+8613800138000" and upsert.email == "a@example.com"


def test_whitespace_is_not_trimmed_but_refused_by_the_rule_in_words():
    errors = refusal(ProfileUpsert, {"phone": " +8613800138000 "})

    assert errors == {"phone": "a phone number in E.164 form: '+' and 7-15 digits, e.g. +8613800138000"}


@pytest.mark.parametrize("phone", ["13800138000", "+0123456789", "+86 138 0013 8000", "+12345"])
def test_a_phone_that_is_not_e164_is_refused(phone):
    assert list(refusal(ProfileUpsert, {"phone": phone})) == ["phone"]


def test_an_email_without_a_domain_is_refused():
    assert list(refusal(ProfileUpsert, {"email": "someone@localhost"})) == ["email"]


@pytest.mark.parametrize("attributes, field", [
    ({"1st": 1}, 'attributes["1st"]'), ({"has space": 1}, 'attributes["has space"]'), ({"score": float("inf")}, "attributes.score"),
    ({"bio": "x" * 2049}, "attributes.bio"), ({"list": list(range(101))}, "attributes.list"),
    ({"list": [1, 2, 1e-200]}, "attributes.list[2]"), ({"big": 10 ** 39 + 1}, "attributes.big"),
    ({"x": 1e130}, "attributes.x"), ({"": 1}, 'attributes[""]'), ({"a\n": 1}, 'attributes["a\\n"]'),
    ({f"a{i}": i for i in range(201)}, "attributes"),
])
def test_bad_attributes_are_refused_at_their_own_path(attributes, field):
    assert list(refusal(ProfileUpsert, {"attributes": attributes})) == [field]


def test_attributes_over_16_kb_of_utf8_json_are_refused():
    errors = refusal(ProfileUpsert, {"attributes": {f"a{i}": "张" * 700 for i in range(8)}})

    assert list(errors) == ["attributes"] and "16384 bytes" in errors["attributes"]


def test_an_unknown_profile_field_is_refused_as_unknown():
    assert refusal(ProfileUpsert, {"emial": "a@example.com"}) == {"emial": "unknown field"}


def test_a_batch_profile_needs_a_user_id():
    assert list(refusal(ProfileBatchItem, {"attributes": {}})) == ["user_id"]


# tags

def test_a_tags_change_adds_and_removes():
    change = parse(TagsChange, {"add": ["vip"], "remove": ["trial"]})

    assert (change.add, change.remove) == (["vip"], ["trial"])


def test_an_empty_tags_change_is_refused():
    errors = refusal(TagsChange, {})

    assert errors == {"body": "give tags to add or remove"}


def test_a_tag_both_added_and_removed_is_refused():
    errors = refusal(TagsChange, {"add": ["vip", "new"], "remove": ["vip"]})

    assert "both added and removed" in errors["body"] and "vip" in errors["body"]


@pytest.mark.parametrize("tag", ["a,b", "", "   ", "x" * 65, "tab\there", " vip", "del\x7f"])
def test_a_malformed_tag_is_refused_at_its_index(tag):
    assert refusal(TagsChange, {"remove": ["ok", tag]}) == {"remove[1]": TAG_RULE}


def test_a_nested_object_attribute_is_refused_at_its_name():
    errors = refusal(ProfileUpsert, {"attributes": {"address": {"city": "x"}}})

    assert list(errors) == ["attributes.address"] and "string, number, boolean or null" in errors["attributes.address"]


def test_an_event_before_1970_is_refused():
    with pytest.raises(Invalid) as caught:
        parse(EventsPost, {"events": [{"user_id": "u", "name": "x", "timestamp": "0999-01-01T00:00:00+00:00"}]})
    assert caught.value.errors[0].field == "events[0].timestamp"
