"""Opaque list cursors: they round-trip, and a cursor for another list is refused."""
from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib import pagination
from chalicelib.errors import Invalid

string_attributes = st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40).map(lambda s: {"S": s}),
                                    max_size=4)


def cursor_of(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@settings(max_examples=200, deadline=None)
@given(partition=st.text(max_size=40), other=string_attributes)
def test_a_cursor_decodes_to_the_key_it_was_made_from(partition, other):
    key = {**other, "pk": {"S": partition}}

    cursor = pagination.encode(key)

    assert pagination.decode(cursor, attribute="pk", expected=partition) == key


@settings(max_examples=200, deadline=None)
@given(key=string_attributes.filter(bool))
def test_a_cursor_is_url_safe_and_unpadded(key):
    cursor = pagination.encode(key)

    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_no_key_means_no_cursor():
    assert pagination.encode(None) is None
    assert pagination.encode({}) is None


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_means_start_at_the_beginning(cursor):
    assert pagination.decode(cursor, attribute="pk", expected="ws_a") is None


def test_a_cursor_for_another_partition_is_refused():
    cursor = pagination.encode({"pk": {"S": "ws_b"}, "sk": {"S": "profile#u1"}})

    with pytest.raises(Invalid) as refused:
        pagination.decode(cursor, attribute="pk", expected="ws_a")

    assert [e.field for e in refused.value.errors] == ["cursor"]


def test_a_cursor_without_the_partition_attribute_is_refused():
    cursor = pagination.encode({"sk": {"S": "profile#u1"}})

    with pytest.raises(Invalid) as refused:
        pagination.decode(cursor, attribute="pk", expected="ws_a")

    assert refused.value.errors[0].field == "cursor"


@pytest.mark.parametrize("raw", [
    b'["pk"]', b'"ws_a"', b'{"pk": "ws_a"}', b'{"pk": {"N": "1"}}', b'{"pk": {"S": 1}}',
    b'{"pk": {"S": "ws_a"}, "sk": {"S": "x", "N": "1"}}', b'{"pk": {"S": "ws_a"}, "n": {"N": "1"}}',
])
def test_a_cursor_whose_key_is_not_made_of_strings_is_refused(raw):
    with pytest.raises(Invalid) as refused:
        pagination.decode(cursor_of(raw), attribute="pk", expected="ws_a")

    assert refused.value.errors[0].field == "cursor"


@pytest.mark.parametrize("garbage", ["a", "!!!!", "not a cursor", "%%%", "\x00", "é", "eyJ", cursor_of(b"\xff\xfe")])
def test_garbage_is_refused_as_an_invalid_cursor(garbage):
    with pytest.raises(Invalid) as refused:
        pagination.decode(garbage, attribute="pk", expected="ws_a")

    assert refused.value.errors[0].field == "cursor"


@settings(max_examples=200, deadline=None)
@given(garbage=st.text(min_size=1, max_size=200))
def test_any_string_is_either_a_matching_cursor_or_refused_as_invalid(garbage):
    try:
        key = pagination.decode(garbage, attribute="pk", expected="ws_a")
    except Invalid as refused:
        assert refused.errors[0].field == "cursor"
    else:
        assert key["pk"] == {"S": "ws_a"}


def test_a_deeply_nested_cursor_is_refused_as_invalid():
    # ~1,300 characters: short enough for a query string.
    cursor = cursor_of(b"[" * 1000)

    with pytest.raises(Invalid) as refused:
        pagination.decode(cursor, attribute="pk", expected="ws_a")

    assert refused.value.errors[0].field == "cursor"


def test_the_cursor_is_base64url_json_of_the_key():
    key = {"pk": {"S": "ws_a"}, "sk": {"S": "u/1?"}}

    cursor = pagination.encode(key)

    assert json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))) == key
