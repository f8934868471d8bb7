"""The campaigns table: a workspace's marketing plan, one item collection per workspace.

pk = workspace id; sk = "campaign#<campaign_id>" (ids are time-ordered: a Query lists
campaigns in creation order). Tasks and chat campaigns join this table later. Every
item carries ``kind`` (PynamoDB's discriminator).
"""
from __future__ import annotations

from pynamodb.attributes import DiscriminatorAttribute, NumberAttribute, UnicodeAttribute

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
