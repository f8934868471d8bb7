"""The campaigns table: a workspace's marketing plan, one item collection per workspace.

pk = workspace id; sk = "campaign#<campaign_id>" (ids are time-ordered: a Query lists
campaigns in creation order); "task#<task_id>" a marketing task; "waiting#<template_id>#<task_id>"
an instant task waiting for its template's approval. Every
item carries ``kind`` (PynamoDB's discriminator).
"""
from __future__ import annotations

from typing import Any

from pynamodb.attributes import BooleanAttribute, DiscriminatorAttribute, MapAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.models.base import BaseModel, meta

CAMPAIGN_PREFIX = "campaign#"


class CampaignsTableItem(BaseModel):
    Meta = meta("campaigns")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    kind = DiscriminatorAttribute()


class CampaignItem(CampaignsTableItem, discriminator="campaign"):
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    parent_id = UnicodeAttribute(null=True)
    start_at = UnicodeAttribute(null=True)
    end_at = UnicodeAttribute(null=True)
    active = NumberAttribute(default=0)   # attached tasks/journeys active now (ADD by their lifecycles)
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()


TASK_PREFIX = "task#"
WAITING_PREFIX = "waiting#"   # waiting#<template_id>#<task_id>: an instant task waiting for its template's approval


class TaskItem(CampaignsTableItem, discriminator="task"):
    name = UnicodeAttribute()
    channel = UnicodeAttribute()
    provider = UnicodeAttribute()
    target: MapAttribute[str, Any] = MapAttribute()   # kind, audience_id, snapshot_id, user_ids, unmatched
    template_id = UnicodeAttribute()
    status = UnicodeAttribute()
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    campaign_id = UnicodeAttribute(null=True)
    send_at = UnicodeAttribute(null=True)
    window: MapAttribute[str, Any] = MapAttribute(null=True)
    approval_grace_minutes = NumberAttribute(default=60)
    reason = UnicodeAttribute(null=True)
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    targeted = NumberAttribute(default=0)
    fanout_after = UnicodeAttribute(null=True)
    fanout_done = BooleanAttribute(default=False)
    transactional = BooleanAttribute(default=False)


class WaitingItem(CampaignsTableItem, discriminator="waiting"):
    task_id = UnicodeAttribute()


CHAT_PREFIX = "chat#"


class ChatCampaignItem(CampaignsTableItem, discriminator="chat_campaign"):
    name = UnicodeAttribute()
    description = UnicodeAttribute(null=True)
    journey_id = UnicodeAttribute()
    audience_id = UnicodeAttribute()
    start_at = UnicodeAttribute()
    end_at = UnicodeAttribute()
    plan_every = NumberAttribute()
    plan_unit = UnicodeAttribute()
    status = UnicodeAttribute()         # pending or paused; in_progress and ended follow the clock
    version = NumberAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    last_run_at = UnicodeAttribute(null=True)


class TaskExportItem(CampaignsTableItem, discriminator="task_export"):
    """A CSV export of a task's messages (sk ``task_export#<task_id>#<export_id>``)."""

    task_id = UnicodeAttribute()
    export_id = UnicodeAttribute()
    status = UnicodeAttribute()
    rows = NumberAttribute(default=0)
    created_at = UnicodeAttribute()
    finished_at = UnicodeAttribute(null=True)
