"""Consent and suppression, decided without I/O: may this message go to this address?

Two sources, read together for a batch of messages (``repo_fatigue.read_facts``):
* the user's subscription state per channel (``subscribed`` unless they unsubscribed);
* the workspace's suppression list per channel and address, fed by unsubscribe links,
  hard bounces, complaints and operators.

Transactional (exempt) messages ignore the subscription state and an unsubscribe, but not
a hard bounce, a complaint or a manual suppression: those addresses get nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import phonenumbers

from chalicelib.sending.fatigue import Drop, Send

ConsentState = Literal["subscribed", "unsubscribed"]
SuppressionReason = Literal["unsubscribe", "hard_bounce", "complaint", "manual"]
REASONS: tuple[SuppressionReason, ...] = ("unsubscribe", "hard_bounce", "complaint", "manual")
BLOCKS_EVERYTHING = frozenset({"hard_bounce", "complaint", "manual"})
PHONE_CHANNELS = frozenset({"sms", "whatsapp", "viber"})
DROPPED_SUPPRESSED = "dropped_suppressed"


@dataclass(frozen=True)
class Suppression:
    reasons: frozenset[str]
    first_at: str


def address_key(channel: str, address: str) -> str:
    """The form an address is suppressed and looked up under: email lower-cased, phone
    numbers in E.164, anything else as given (without surrounding spaces)."""
    value = address.strip()
    if channel == "email":
        return value.lower()
    if channel in PHONE_CHANNELS:
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            return value
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return value


def check(*, channel: str, consent: ConsentState | None, suppression: Suppression | None,
          exempt: bool = False) -> Send | Drop:
    """Send, or drop as ``dropped_suppressed`` with the reason."""
    if suppression is not None:
        blocking = sorted(suppression.reasons & BLOCKS_EVERYTHING) if exempt else sorted(suppression.reasons)
        if blocking:
            return Drop(DROPPED_SUPPRESSED, f"the address is on the {channel} suppression list ({', '.join(blocking)})")
    if consent == "unsubscribed" and not exempt:
        return Drop(DROPPED_SUPPRESSED, f"the user unsubscribed from {channel}")
    return Send()
