"""The channels table: a workspace's channel setup (templates, providers, SMS signatures,
materials), one item collection per workspace; and short links, one partition per code.

pk = workspace id; sk = "template#<template_id>" (ids are time-ordered, so a Query lists
templates in creation order), "provider#<name>", "signature#<name>", "material#<id>".
Short links are the one exception to "every pk begins with the workspace id": the public
redirect knows only the code, so pk = "link#<code>" and the item names its workspace.
Every item carries ``kind`` (PynamoDB's discriminator).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import (
    DiscriminatorAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute,
)

from chalicelib.models.base import BaseModel, meta

TEMPLATE_PREFIX = "template#"


class ChannelsTableItem(BaseModel):
    """Any item of the channels table; ``kind`` says which."""

    Meta = meta("channels")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class TemplateItem(ChannelsTableItem, discriminator="template"):
    channel = UnicodeAttribute()
    name = UnicodeAttribute()
    spec: MapAttribute[str, Any] = MapAttribute()  # the template as the API takes it (flat, by channel)
    status = UnicodeAttribute()
    version = NumberAttribute()
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    reviewed_at = UnicodeAttribute(null=True)


PROVIDER_PREFIX = "provider#"


class ProviderItem(ChannelsTableItem, discriminator="provider"):
    """A provider account's settings; its credentials are in Secrets Manager."""

    channel = UnicodeAttribute()
    provider_kind = UnicodeAttribute()
    settings: MapAttribute[str, Any] = MapAttribute(default=dict)
    rate_limit = NumberAttribute(null=True)
    batch_size = NumberAttribute(null=True)
    cost_per_message = NumberAttribute(null=True)
    endpoint = UnicodeAttribute(null=True)
    credential_names = UnicodeSetAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = NumberAttribute()


SIGNATURE_PREFIX = "signature#"


class SignatureItem(ChannelsTableItem, discriminator="sms_signature"):
    """An SMS signature (the sender name a provider puts in brackets), under review like a
    template; its name is its id."""

    name = UnicodeAttribute()
    provider = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    status = UnicodeAttribute()
    version = NumberAttribute()
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    reviewed_at = UnicodeAttribute(null=True)


LINK_PREFIX = "link#"
LINK_SK = "link"


class ShortLinkItem(ChannelsTableItem, discriminator="short_link"):
    """pk "link#<code>", sk "link". A link made through the API has no attribution; one
    made while rendering a message names the user, the message and its task or journey
    node. ``clicks`` counts every click; ``first_clicked_at`` marks the unique click."""

    workspace_id = UnicodeAttribute()
    url = UnicodeAttribute()
    user_id = UnicodeAttribute(null=True)
    message_key = UnicodeAttribute(null=True)
    task_id = UnicodeAttribute(null=True)
    journey_id = UnicodeAttribute(null=True)
    node_id = UnicodeAttribute(null=True)
    clicks = NumberAttribute(default=0)
    first_clicked_at = UnicodeAttribute(null=True)
    last_clicked_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()


MATERIAL_PREFIX = "material#"


class MaterialItem(ChannelsTableItem, discriminator="material"):
    """An uploaded file (image, video, audio, Lottie animation) kept in the uploads bucket
    at ``object_key``; ``material_kind`` is its kind (``kind`` is the item type)."""

    material_kind = UnicodeAttribute()
    filename = UnicodeAttribute()
    content_type = UnicodeAttribute()
    size = NumberAttribute()
    object_key = UnicodeAttribute()
    status = UnicodeAttribute()
    reason = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
