"""Where a message goes when its sender did not say: the profile's address for the channel.

Pure. Tasks and journeys put recipients on the sends queue with a user id only
(``Recipient.to`` None); the sender reads the batch's profiles once and takes each
message's address from its profile here, before consent and suppression look at it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

# channel -> the profile field holding its address (profiles.schemas.CHANNELS); webhook
# (and any channel not named) needs none: the provider account says where it goes.
PROFILE_FIELD: dict[str, str] = {
    "sms": "phone",
    "email": "email",
    "push": "push_token",
    "wechat": "wechat_openid",
    "wechat_template": "wechat_openid",
    "whatsapp": "whatsapp",
    "viber": "viber",
}
WORDS = {"phone": "phone", "email": "email", "push_token": "push token", "wechat_openid": "WeChat openid",
         "whatsapp": "WhatsApp number", "viber": "Viber id"}


@dataclass(frozen=True)
class Unaddressed:
    """The message cannot be sent: why, in words."""

    reason: str


def needs_address(channel: str) -> bool:
    return channel in PROFILE_FIELD


def resolve(channel: str, user_id: str, channels: Mapping[str, str | None] | None) -> str | None | Unaddressed:
    """The address of ``user_id`` on ``channel`` from the profile's channel addresses
    (None: the profile is missing); None when the channel needs no address."""
    name = PROFILE_FIELD.get(channel)
    if name is None:
        return None
    if channels is None:
        return Unaddressed(f"no profile {user_id}")
    value = channels.get(name)
    if not value:
        return Unaddressed(f"no {WORDS[name]} on the profile")
    return value
