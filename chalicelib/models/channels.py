"""The channels table: a workspace's channel setup (templates now; providers and SMS
signatures next), one item collection per workspace.

pk = workspace id; sk = "template#<template_id>" (ids are time-ordered, so a Query lists
templates in creation order). Every item carries ``kind`` (PynamoDB's discriminator).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import DiscriminatorAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UnicodeSetAttribute

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
