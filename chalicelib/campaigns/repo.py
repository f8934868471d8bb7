"""Campaigns' storage (the campaigns table), as plain ``campaigns.Campaign`` in and out.

Tree changes are transactions conditioned on the versions read: adding a child bumps
its parent's version, so a delete that read the tree without that child loses and reads
again; a reparent checks every new ancestor as read, so two reparents that would make a
cycle together cannot both commit.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib import dynamo
from chalicelib.campaigns.campaigns import Campaign
from chalicelib.models.campaigns import CAMPAIGN_PREFIX, CampaignItem


def _campaign(item: CampaignItem) -> Campaign:
    return Campaign(
        id=item.sk[len(CAMPAIGN_PREFIX):], name=item.name, description=item.description, parent_id=item.parent_id,
        start_at=item.start_at, end_at=item.end_at, active=int(item.active or 0), version=int(item.version),
        created_at=item.created_at, updated_at=item.updated_at)


def _item(workspace_id: str, c: Campaign) -> CampaignItem:
    return CampaignItem(
        pk=workspace_id, sk=CAMPAIGN_PREFIX + c.id, name=c.name, description=c.description, parent_id=c.parent_id,
        start_at=c.start_at, end_at=c.end_at, active=c.active, version=c.version, created_at=c.created_at,
        updated_at=c.updated_at)


def _key(workspace_id: str, campaign_id: str) -> CampaignItem:
    return CampaignItem(workspace_id, CAMPAIGN_PREFIX + campaign_id)


def get(workspace_id: str, campaign_id: str) -> Campaign | None:
    try:
        return _campaign(CampaignItem.get(workspace_id, CAMPAIGN_PREFIX + campaign_id, consistent_read=True))
    except DoesNotExist:
        return None


def all_of(workspace_id: str) -> dict[str, Campaign]:
    """Every campaign of the workspace (one Query, paged), for tree decisions."""
    found = CampaignItem.query(workspace_id, CampaignItem.sk.startswith(CAMPAIGN_PREFIX), consistent_read=True)
    return {c.id: c for c in map(_campaign, found)}


def page(workspace_id: str, *, parent_id: str | None, limit: int,
         start: dict[str, Any] | None) -> tuple[list[Campaign], dict[str, Any] | None]:
    condition = (CampaignItem.parent_id == parent_id) if parent_id else None
    result = CampaignItem.query(workspace_id, CampaignItem.sk.startswith(CAMPAIGN_PREFIX), filter_condition=condition,
                                limit=limit, last_evaluated_key=start)
    return [_campaign(i) for i in result], result.last_evaluated_key


def create(workspace_id: str, campaign: Campaign, parent: Campaign | None) -> bool:
    """Store a new campaign; under a parent only if the parent is still as read (its
    version is bumped). False when the parent changed or went."""
    try:
        with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
            tx.save(_item(workspace_id, campaign), condition=CampaignItem.pk.does_not_exist())
            if parent is not None:
                tx.update(_key(workspace_id, parent.id), actions=[CampaignItem.version.add(1)],
                          condition=CampaignItem.version == parent.version)
    except dynamo.LostRace:
        return False
    return True


def update(workspace_id: str, campaign: Campaign, read: Campaign, new_chain: Sequence[Campaign]) -> bool:
    """Store an edit if the campaign is still as read and, when it moves under a new
    parent, that parent (bumped) and every ancestor above it are still as read."""
    try:
        with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
            tx.save(_item(workspace_id, campaign), condition=CampaignItem.version == read.version)
            if campaign.parent_id != read.parent_id:
                for position, ancestor in enumerate(new_chain):
                    if position == 0:
                        tx.update(_key(workspace_id, ancestor.id), actions=[CampaignItem.version.add(1)],
                                  condition=CampaignItem.version == ancestor.version)
                    else:
                        tx.condition_check(CampaignItem, workspace_id, CAMPAIGN_PREFIX + ancestor.id,
                                           condition=CampaignItem.version == ancestor.version)
    except dynamo.LostRace:
        return False
    return True


def delete(workspace_id: str, doomed: Sequence[Campaign]) -> bool:
    """Delete a campaign and its sub-campaigns if every one is still as read."""
    try:
        with dynamo.lost_race_on_conflict(), dynamo.transaction() as tx:
            for c in doomed:
                tx.delete(_key(workspace_id, c.id), condition=CampaignItem.version == c.version)
    except dynamo.LostRace:
        return False
    return True


def adjust_active(workspace_id: str, campaign_id: str, delta: int) -> bool:
    """A task or journey attached to the campaign became active (+1) or stopped (-1).
    False when the campaign is gone."""
    try:
        with dynamo.lost_race_on_conflict():
            _key(workspace_id, campaign_id).update(actions=[CampaignItem.active.add(delta)],
                                                   condition=CampaignItem.pk.exists())
    except dynamo.LostRace:
        return False
    return True
