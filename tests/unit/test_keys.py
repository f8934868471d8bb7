"""API key tokens: mak.<workspace>.<key>.<secret>, stored as a hash of the secret."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings, strategies as st

from chalicelib.tenancy.keys import Token, hash_secret, new_key_item, parse_token, secret_matches
from chalicelib.tenancy.schemas import ApiKeyCreate, Role

parts = st.text(st.characters(blacklist_characters=".", blacklist_categories=("Cs",)), min_size=1, max_size=30)


def test_a_token_names_its_workspace_key_and_secret():
    assert parse_token("mak.ws_abc.key_def.s3cr3t-_") == Token("ws_abc", "key_def", "s3cr3t-_")


@settings(max_examples=200, deadline=None)
@given(workspace_id=parts, key_id=parts, secret=parts)
def test_a_token_parses_back_from_its_text(workspace_id, key_id, secret):
    token = Token(workspace_id, key_id, secret)

    assert parse_token(str(token)) == token


@pytest.mark.parametrize("raw", [
    "", "mak", "mak.ws.key", "mak.ws.key.secret.extra", "xyz.ws.key.secret", "MAK.ws.key.secret",
    "mak..key.secret", "mak.ws..secret", "mak.ws.key.", ".ws.key.secret", "Bearer mak.ws.key.secret", "mak-ws-key-secret",
])
def test_other_shapes_are_not_tokens(raw):
    assert parse_token(raw) is None


def test_a_new_key_gives_a_token_that_parses_and_matches_its_stored_hash():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)

    item, token = new_key_item("ws_abc", ApiKeyCreate(name="ci", role=Role.operator), now)

    assert parse_token(str(token)) == token
    assert token.workspace_id == "ws_abc" and token.key_id == item.key_id
    assert secret_matches(token.secret, item.secret_hash)
    assert token.secret not in item.secret_hash
    assert item.hint == token.secret[-4:]


def test_the_stored_hash_is_the_sha256_hex_of_the_secret():
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@settings(max_examples=100, deadline=None)
@given(secret=st.text(min_size=1, max_size=60, alphabet=st.characters(blacklist_categories=("Cs",))),
       other=st.text(min_size=1, max_size=60, alphabet=st.characters(blacklist_categories=("Cs",))))
def test_only_the_right_secret_matches_a_stored_hash(secret, other):
    stored = hash_secret(secret)

    assert secret_matches(secret, stored)
    assert secret_matches(other, stored) == (other == secret)


def test_key_ids_sort_in_the_order_the_keys_were_made_even_within_one_millisecond():
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    request = ApiKeyCreate(name="k", role=Role.viewer)

    made = [new_key_item("ws_abc", request, now)[0].key_id for _ in range(50)]

    assert made == sorted(made) and len(set(made)) == 50


@settings(max_examples=100, deadline=None)
@given(st.lists(st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1),
                             timezones=st.just(timezone.utc)), min_size=2, max_size=20))
def test_ordered_ids_made_in_time_order_sort_in_that_order(times):
    from chalicelib.ids import ORDERED_ALPHABET, ordered_id

    made = [ordered_id("key", moment) for moment in sorted(times)]

    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(len(i) == 3 + 16 and set(i[3:]) <= set(ORDERED_ALPHABET) for i in made)


def test_a_workspace_is_counted_by_its_admin_keys_only():
    from chalicelib.tenancy.keys import admin_count

    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    made = [new_key_item("ws_abc", ApiKeyCreate(name="k", role=role), now)[0]
            for role in (Role.admin, Role.viewer, Role.admin, Role.operator)]

    assert admin_count(made) == 2
    assert admin_count([]) == 0
