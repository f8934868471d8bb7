"""What DynamoDB can store: numbers in range and precision, object keys, nesting, Unicode.

The checker is compared with two outside references: PynamoDB's own serialisation (what
the handlers write) and boto3's DYNAMODB_CONTEXT (the decimal context AWS's SDK uses to
refuse numbers DynamoDB cannot hold), plus DynamoDB's documented range written out as
literals."""
from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest
from boto3.dynamodb.types import DYNAMODB_CONTEXT
from hypothesis import given, settings, strategies as st
from pynamodb.attributes import MapAttribute

from chalicelib import storable

SETTINGS = settings(max_examples=300, deadline=None)
SMALLEST = Decimal("1e-130")
LARGEST = Decimal("9.9999999999999999999999999999999999999e125")

numbers = (
    st.integers()
    | st.integers(min_value=-(10 ** 45), max_value=10 ** 45)
    | st.builds(lambda m, e: m * 10 ** e, st.integers(-999, 999), st.integers(0, 130))
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.builds(lambda m, e: float(f"{m}e{e}"), st.integers(-99, 99), st.integers(-140, 140))
)
keys = st.text(max_size=6) | st.sampled_from(["", "a.b", "\x00", "x" * 256, "张" * 86, "\ud800"])
strings = st.text(max_size=8) | st.just("\udfff")
json_values = st.recursive(
    st.none() | st.booleans() | numbers | strings,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=25,
)


def in_documented_range(text: str) -> bool:
    number = Decimal(text)
    return number == 0 or SMALLEST <= abs(number) <= LARGEST


def trimmed(text: str) -> Decimal:
    """The number with its trailing zeros moved into the exponent: DynamoDB does not count
    them as digits, while the SDK's context counts every digit of the coefficient."""
    sign, digits, exponent = Decimal(text).as_tuple()
    while len(digits) > 1 and digits[-1] == 0:
        digits, exponent = digits[:-1], int(exponent) + 1
    return Decimal((sign, digits, exponent))


def stored_numbers(serialised: Any) -> list[str]:
    """Every {"N": ...} in a DynamoDB AttributeValue tree."""
    if isinstance(serialised, dict):
        found = [serialised["N"]] if isinstance(serialised.get("N"), str) else []
        return found + [n for value in serialised.values() for n in stored_numbers(value)]
    if isinstance(serialised, list):
        return [n for value in serialised for n in stored_numbers(value)]
    return []


def stored_keys(serialised: Any) -> list[str]:
    if isinstance(serialised, dict):
        names = list(serialised["M"]) if isinstance(serialised.get("M"), dict) else []
        return names + [k for value in serialised.values() for k in stored_keys(value)]
    if isinstance(serialised, list):
        return [k for value in serialised for k in stored_keys(value)]
    return []


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


@SETTINGS
@given(value=st.dictionaries(keys, json_values, max_size=5))
def test_whatever_the_checker_accepts_pynamodb_writes_and_dynamodb_can_hold(value):
    if storable.problems(value):
        return
    serialised = MapAttribute().serialize(value)
    tree = {"M": serialised}

    assert MapAttribute().deserialize(serialised) == value
    for text in stored_numbers(tree):
        DYNAMODB_CONTEXT.create_decimal(trimmed(text))  # raises on more than 38 digits or out of range
        assert in_documented_range(text), text
    for key in stored_keys(tree):
        assert 1 <= len(key.encode("utf-8")) <= 255
    json.dumps(value).encode("utf-8")


@SETTINGS
@given(number=numbers)
def test_a_number_is_accepted_exactly_when_dynamodb_can_hold_it(number):
    accepted = storable.number_problem(number) is None
    if isinstance(number, float) and number != number or number in (float("inf"), float("-inf")):
        assert not accepted
        return
    text = json.dumps(number)  # what PynamoDB sends
    digits = storable.significant_digits(Decimal(text))

    assert accepted == (in_documented_range(text) and digits <= 38)


@pytest.mark.parametrize("value", [
    1e-200, -1e-200, 1e130, -1e130, 1e126, 10 ** 39 + 1, 10 ** 126, float("nan"), float("inf"),
    json.loads("1e400"), json.loads("-Infinity"), 10 ** 38 + 1, -(10 ** 38 + 1),
])
def test_numbers_dynamodb_refuses_are_refused(value):
    assert storable.problems({"n": value}) != []


@pytest.mark.parametrize("value", [0, -0.0, 1e-130, -1e-130, 10 ** 38 - 1, 10 ** 125, 9.999999999999999e124,
                                   123.456, 10 ** 100, int("9" * 38) * 10 ** 88])
def test_numbers_at_the_edges_of_the_range_are_accepted(value):
    assert storable.problems({"n": value}) == []


def test_trailing_and_leading_zeros_do_not_count_as_digits():
    assert storable.significant_digits(Decimal("0.000123000")) == 3
    assert storable.number_problem(10 ** 120) is None
    assert storable.number_problem(int("1" * 39)) is not None


@pytest.mark.parametrize("key, words", [
    ("", "empty"), ("x" * 256, "255 bytes"), ("张" * 86, "255 bytes"), ("tab\there", "control"),
    ("del\x7f", "control"), ("\ud800", "Unicode"),
])
def test_bad_object_keys_are_refused_at_their_path(key, words):
    found = storable.problems({"cart": {key: 1}})

    assert len(found) == 1 and words in found[0].message
    assert found[0].path("events[3].properties").startswith("events[3].properties.cart[")


def test_keys_of_255_bytes_and_odd_characters_are_fine():
    assert storable.problems({"x" * 255: 1, "张" * 85: 2, "a.b c/#%": 3, " ": 4}) == []


def test_nesting_is_refused_past_32_levels():
    assert storable.problems(nested(32)) == []
    found = storable.problems(nested(33))

    assert [p.message for p in found] == ["objects and lists nest at most 32 levels deep"]
    assert found[0].path("properties") == "properties" + ".a" * 32


def test_a_lone_surrogate_in_a_string_is_refused():
    assert storable.problems({"s": ["ok", "\ud83d"]})[0].path() == "s[1]"


def test_the_path_names_the_exact_value():
    value = {"cart": {"items": [{"price": 1}, {"price": 2}, {"price": 1e-200}]}}

    assert [p.path("events[3].properties") for p in storable.problems(value)] == [
        "events[3].properties.cart.items[2].price"]


def test_odd_keys_are_quoted_in_paths():
    assert storable.render_path(("a.b", 0, "", "ok"), "attributes") == 'attributes["a.b"][0][""].ok'


def test_a_hostile_value_gets_a_bounded_answer():
    assert len(storable.problems({f"k{i}": 1e-300 for i in range(10_000)})) == storable.MAX_PROBLEMS


def test_json_size_counts_utf8_bytes_of_compact_json():
    assert storable.json_size({"a": "张"}) == len('{"a":"张"}'.encode())
