"""Consent and suppression decisions."""
from __future__ import annotations

from chalicelib.sending.consent import Suppression, address_key, check
from chalicelib.sending.fatigue import Drop, Send


def suppressed(*reasons: str) -> Suppression:
    return Suppression(frozenset(reasons), "2026-11-26T00:00:00.000Z")


def test_a_subscribed_or_unknown_user_with_a_clean_address_is_sent():
    assert check(channel="email", consent=None, suppression=None) == Send()
    assert check(channel="email", consent="subscribed", suppression=None) == Send()


def test_an_unsubscribed_user_is_dropped_as_suppressed():
    decision = check(channel="sms", consent="unsubscribed", suppression=None)

    assert isinstance(decision, Drop)
    assert decision.status == "dropped_suppressed" and "unsubscribed from sms" in decision.reason


def test_a_suppressed_address_is_dropped_with_its_reasons():
    decision = check(channel="email", consent="subscribed", suppression=suppressed("complaint", "unsubscribe"))

    assert isinstance(decision, Drop) and decision.reason.endswith("(complaint, unsubscribe)")


def test_transactional_messages_pass_an_unsubscribe_but_not_a_bounce_or_complaint():
    assert check(channel="email", consent="unsubscribed", suppression=suppressed("unsubscribe"), exempt=True) == Send()
    for reason in ("hard_bounce", "complaint", "manual"):
        decision = check(channel="email", consent=None, suppression=suppressed("unsubscribe", reason), exempt=True)
        assert isinstance(decision, Drop) and decision.reason.endswith(f"({reason})")


def test_addresses_are_keyed_in_one_form():
    assert address_key("email", "  Ann.Lee@Example.COM ") == "ann.lee@example.com"
    assert address_key("sms", "+86 138 0013 8000") == "+8613800138000"
    assert address_key("whatsapp", "+1 (212) 555-0100") == "+12125550100"
    assert address_key("sms", "not a number") == "not a number"
    assert address_key("push", " Token-ABC ") == "Token-ABC"
