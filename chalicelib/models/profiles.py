"""The profiles table: one item collection per end user (profile and per-event aggregates).

pk = "<workspace_id>#<user_id>"; sk = "profile" | "stat#<event name>" | "erased".
GSI ``by_workspace`` (workspace_id, user_id) holds profile items only, for listing; the
sparse GSIs ``by_email`` (email_key = "<workspace_id>#<email, lower-cased>") and
``by_phone`` (phone_key = "<workspace_id>#<E.164>") hold the profiles with that address,
keys only, for lookups by address; ``by_wechat``, ``by_whatsapp`` and ``by_viber``
(wechat_key, whatsapp_key, viber_key = "<workspace_id>#<address as stored>") the same for
chat addresses, so inbound chat messages find their sender's profile.
Every item carries ``kind`` (PynamoDB's discriminator): a query through one item class
returns only items of that kind, so a tombstone is never read as a profile.
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute, ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.models.base import BaseModel, meta

PROFILE_SK = "profile"
STAT_PREFIX = "stat#"
ERASED_SK = "erased"


def user_pk(workspace_id: str, user_id: str) -> str:
    return f"{workspace_id}#{user_id}"


class ByWorkspace(GlobalSecondaryIndex["ProfileItem"]):
    class Meta:
        index_name = "by_workspace"
        projection = AllProjection()

    workspace_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)


def email_key(workspace_id: str, email: str) -> str:
    return f"{workspace_id}#{email.lower()}"


def phone_key(workspace_id: str, phone: str) -> str:
    return f"{workspace_id}#{phone}"


class ByEmail(GlobalSecondaryIndex["ProfileItem"]):
    class Meta:
        index_name = "by_email"
        projection = KeysOnlyProjection()

    email_key = UnicodeAttribute(hash_key=True)


class ByPhone(GlobalSecondaryIndex["ProfileItem"]):
    class Meta:
        index_name = "by_phone"
        projection = KeysOnlyProjection()

    phone_key = UnicodeAttribute(hash_key=True)


def chat_key(workspace_id: str, address: str) -> str:
    """The hash key of the chat address indexes (WeChat openid, WhatsApp E.164, Viber id)."""
    return f"{workspace_id}#{address}"


class ByWechat(GlobalSecondaryIndex["ProfileItem"]):
    class Meta:
        index_name = "by_wechat"
        projection = KeysOnlyProjection()

    wechat_key = UnicodeAttribute(hash_key=True)


class ByWhatsapp(GlobalSecondaryIndex["ProfileItem"]):
    class Meta:
        index_name = "by_whatsapp"
        projection = KeysOnlyProjection()

    whatsapp_key = UnicodeAttribute(hash_key=True)


class ByViber(GlobalSecondaryIndex["ProfileItem"]):
    class Meta:
        index_name = "by_viber"
        projection = KeysOnlyProjection()

    viber_key = UnicodeAttribute(hash_key=True)


# profile channel -> (its sparse index, the index's hash key attribute)
CHAT_INDEXES: dict[str, tuple[str, str]] = {
    "wechat_openid": ("by_wechat", "wechat_key"),
    "whatsapp": ("by_whatsapp", "whatsapp_key"),
    "viber": ("by_viber", "viber_key"),
}


class ProfilesTableItem(BaseModel):
    """Any item of the profiles table; ``kind`` says which."""

    Meta = meta("profiles")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class ProfileItem(ProfilesTableItem, discriminator="profile"):
    workspace_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    attributes: MapAttribute[str, Any] = MapAttribute(default=dict)
    email = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    push_token = UnicodeAttribute(null=True)
    wechat_openid = UnicodeAttribute(null=True)
    whatsapp = UnicodeAttribute(null=True)
    viber = UnicodeAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = NumberAttribute(default=1)
    email_key = UnicodeAttribute(null=True)  # set from email by the repository: by_email's hash key
    phone_key = UnicodeAttribute(null=True)  # set from phone: by_phone's hash key
    wechat_key = UnicodeAttribute(null=True)  # set from wechat_openid: by_wechat's hash key
    whatsapp_key = UnicodeAttribute(null=True)  # set from whatsapp: by_whatsapp's hash key
    viber_key = UnicodeAttribute(null=True)  # set from viber: by_viber's hash key
    by_workspace = ByWorkspace()
    by_email = ByEmail()
    by_phone = ByPhone()
    by_wechat = ByWechat()
    by_whatsapp = ByWhatsapp()
    by_viber = ByViber()


class EventStatItem(ProfilesTableItem, discriminator="stat"):
    """Aggregates of one event name for one user, kept by the events handler.

    ``pending`` lists the events (their events-table sort keys) this aggregate has counted
    that may not be stored yet: the handler writes the aggregate before the events, so a
    redelivery finds them here and stores them without counting them again.
    """

    name = UnicodeAttribute()
    event_count = NumberAttribute()
    first_at = UnicodeAttribute()
    last_at = UnicodeAttribute()
    sums: MapAttribute[str, Any] = MapAttribute(default=dict)
    version = NumberAttribute()
    pending: ListAttribute[str] = ListAttribute(default=list)  # event sort keys (strings)


class ErasureItem(ProfilesTableItem, discriminator="erased"):
    """Left by an erasure so that events queued before it are not stored afterwards;
    expires (TTL) once no such event can still be in a queue."""

    erased_at = UnicodeAttribute()
    expires_at = NumberAttribute()
