"""Request validation: a 400 whose errors name the field path and say what is wrong."""
from __future__ import annotations

import re

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


# every request schema: messages in words, JSON numbers as numbers

def _request_models():
    """Every request model the app declares (bodies, queries and what they nest), after
    importing the app so every blueprint's schemas are loaded."""
    import app  # noqa: F401 - registers every endpoint
    from chalicelib.schemas import Request

    seen, todo = [], list(Request.__subclasses__())
    while todo:
        model = todo.pop()
        if model not in seen:
            seen.append(model)
            todo.extend(model.__subclasses__())
    return seen


def _properties(model):
    schema = model.model_json_schema()
    for name, prop in schema.get("properties", {}).items():
        variants = prop.get("anyOf", [prop])
        yield name, variants


def _query_models():
    import app  # noqa: F401
    from chalicelib.api.http import ENDPOINTS

    return {e.query for e in ENDPOINTS if e.query is not None}


REGEX_SYNTAX = re.compile(r"\^\[|\[\^|\]\{|\]\*|\]\+|\\[sdwxS]|\(\?|\{\d+,\d*\}")


def test_every_pattern_constrained_field_is_explained_in_words_never_as_a_regex():
    checked = []
    for model in _request_models():
        for name, variants in _properties(model):
            patterns = [v["pattern"] for v in variants if "pattern" in v]
            if not patterns:
                continue
            with pytest.raises(Invalid) as refused:
                parse(model, {name: "\x01 not matching"})
            message = {e.field: e.message for e in refused.value.errors}[name]
            checked.append((model.__name__, name))
            assert patterns[0] not in message, (model.__name__, name, message)
            assert "pattern" not in message and "should match" not in message, (model.__name__, name, message)
            assert not REGEX_SYNTAX.search(message), (model.__name__, name, message)
    assert ("EventIn", "user_id") in checked and ("EventIn", "name") in checked and ("ProfileUpsert", "phone") in checked


def test_every_integer_number_or_boolean_in_a_json_body_refuses_a_string():
    queries = _query_models()
    checked = []
    for model in _request_models():
        if model in queries:
            continue
        for name, variants in _properties(model):
            types = {v.get("type") for v in variants}
            for kind, text in (("integer", "5"), ("number", "0.5"), ("boolean", "true")):
                if kind in types:
                    with pytest.raises(Invalid) as refused:
                        parse(model, {name: text})
                    checked.append((model.__name__, name))
                    assert name in {e.field for e in refused.value.errors}, (model.__name__, name)
    assert ("WorkspacePatch", "event_retention_days") in checked


def test_query_strings_still_parse_numbers():
    from chalicelib.schemas import PageQuery

    assert parse(PageQuery, {"limit": "5"}).limit == 5


def test_a_retention_given_as_a_string_is_refused_in_words():
    from chalicelib.tenancy.schemas import WorkspacePatch

    assert refusal(WorkspacePatch, {"event_retention_days": "30"}) == {
        "event_retention_days": 'must be an integer, written as a JSON number (30, not "30")'}


@pytest.mark.parametrize("body", [{}, {"name": None}, {"name": None, "timezone": None}])
def test_a_workspace_patch_that_changes_nothing_is_refused_alike(body):
    from chalicelib.tenancy.schemas import WorkspacePatch

    assert refusal(WorkspacePatch, body) == {"body": "give at least one of name, timezone, event_retention_days, default_region"}


def test_a_wrong_shape_is_said_without_internal_class_names():
    errors = refusal(EventsPost, {"events": [1, "x"]})

    assert errors == {"events[0]": "must be a JSON object", "events[1]": "must be a JSON object"}


# user ids

@pytest.mark.parametrize("user_id", [" abc", "abc ", "\tabc", "", "x" * 129, "a\x00b", "a\nb", "abc\n", "a\x85b"])
def test_a_user_id_breaking_the_rule_is_refused_in_words(user_id):
    from chalicelib.profiles.schemas import USER_ID_RULE

    assert refusal(EventIn, event(user_id=user_id)) == {"user_id": USER_ID_RULE}
    assert refusal(ProfileBatchItem, {"user_id": user_id}) == {"user_id": USER_ID_RULE}


@pytest.mark.parametrize("user_id", ["张三", "john doe", "a/b", "50%", "#1", "a#1", "x" * 128, "ü", "a b c"])
def test_user_ids_with_any_printable_character_are_accepted(user_id):
    from chalicelib.profiles.schemas import USER_ID

    assert parse(EventIn, event(user_id=user_id)).user_id == user_id
    assert re.fullmatch(USER_ID, user_id)  # the documented pattern agrees


# event properties and timestamps

def test_event_properties_dynamodb_cannot_store_are_refused_at_their_path():
    errors = refusal(EventsPost, {"events": [event(), event(properties={
        "cart": {"items": [{"price": 1}, {"price": 1e-200}]}, "": 1, "big": 10 ** 39 + 1, "nan": float("nan")})]})

    assert set(errors) == {"events[1].properties.cart.items[1].price", 'events[1].properties[""]',
                           "events[1].properties.big", "events[1].properties.nan"}


@pytest.mark.parametrize("timestamp", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_timestamp_that_overflows_in_utc_is_refused_in_words(timestamp):
    errors = refusal(EventsPost, {"events": [event(), event(timestamp=timestamp)]})

    assert errors == {"events[1].timestamp": "is out of range once converted to UTC (years 1-9999)"}


def test_a_timestamp_that_is_not_a_time_is_said_in_words():
    assert refusal(EventIn, event(timestamp="next tuesday")) == {
        "timestamp": "must be an ISO-8601 time with an offset, e.g. 2026-11-22T09:00:00+08:00"}


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00", "nope", "", "2026-01-01"])
def test_parse_iso_raises_only_value_errors(value):
    from chalicelib import clock

    with pytest.raises(ValueError):
        clock.parse_iso(value)


# event definitions

@pytest.mark.parametrize("prop", ["", "x" * 256, "a\x00b"])
def test_a_definition_property_name_follows_the_object_key_rule(prop):
    from chalicelib.events.schemas import EventDefinitionCreate
    from chalicelib.storable import render_path

    errors = refusal(EventDefinitionCreate, {"name": "e", "properties": {prop: "string"}})

    assert list(errors) == [render_path((prop,), "properties")]
    assert errors[list(errors)[0]].startswith("a property name")
