"""Signed unsubscribe tokens and the one-click headers."""
from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from chalicelib.sending.unsubscribe import Subscription, email_headers, link, sign, verify

KEY = b"k" * 32
ANN = Subscription("wsabc", "email", "ann@example.com", "user-1")
names = st.text(min_size=1, max_size=60).filter(lambda s: "\x00" not in s)


def test_a_signed_token_verifies_to_what_it_names():
    assert verify(sign(ANN, KEY), KEY) == ANN


@given(names, st.sampled_from(["email", "sms"]), names, names)
def test_any_names_round_trip_in_a_url_safe_token(ws, channel, address, user):
    subscription = Subscription(ws, channel, address, user)
    token = sign(subscription, KEY)

    assert re.fullmatch(r"[A-Za-z0-9_\-.]+", token)
    assert verify(token, KEY) == subscription


def test_a_token_under_another_key_is_refused():
    assert verify(sign(ANN, KEY), b"another key") is None


def test_a_token_naming_another_address_is_refused():
    version, _, mac = sign(ANN, KEY).split(".")
    _, payload, _ = sign(Subscription("wsabc", "email", "bob@example.com", "user-1"), KEY).split(".")

    assert verify(f"{version}.{payload}.{mac}", KEY) is None


@given(st.text(max_size=300))
def test_garbage_is_refused_without_an_error(token):
    assert verify(token, KEY) is None


def test_every_altered_character_breaks_the_token():
    token = sign(ANN, KEY)
    for i, char in enumerate(token):
        if char == ".":
            continue
        altered = token[:i] + ("A" if char != "A" else "B") + token[i + 1:]
        assert verify(altered, KEY) is None, i  # the last character's spare bits too: one spelling per token


def test_email_carries_the_rfc_8058_one_click_headers():
    url = link("https://api.example.com/api/", "v1.abc.def")

    assert url == "https://api.example.com/api/u/v1.abc.def"
    assert email_headers(url) == {"List-Unsubscribe": "<https://api.example.com/api/u/v1.abc.def>",
                                  "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
