"""Campaigns through the API: create, read, edit, delete, list.

Each operation reads what it decides on, decides with ``campaigns`` (pure) and writes
conditioned on what it read; a lost race reads and decides again (``dynamo.read_decide_write``).
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator

from chalicelib import clock, dynamo, ids, pagination
from chalicelib.campaigns import campaigns as rules
from chalicelib.campaigns import repo
from chalicelib.campaigns.campaigns import Campaign, Stage
from chalicelib.errors import NotFound
from chalicelib.schemas import JsonInt, PageQuery, Request, Response, rule

ID = rule(r"^cmp[0-9a-z]{1,40}$", "a campaign id as this API returns it (cmp...)")


def _time(value: str | None) -> str | None:
    """An ISO-8601 time with an offset, stored as UTC (BadTime is a ValueError in words)."""
    return clock.iso(clock.parse_iso(value)) if value is not None else None


class CampaignBody(Request):
    name: str = Field(min_length=1, max_length=100)
    description: str | None = Field(None, max_length=1000)
    parent_id: str | None = Field(None, pattern=ID, description="makes it a sub-campaign of that campaign")
    start_at: str | None = Field(None, max_length=40, description="ISO-8601 with an offset; running from then on")
    end_at: str | None = Field(None, max_length=40, description="ISO-8601 with an offset; ended from then on")

    @field_validator("start_at", "end_at")
    @classmethod
    def _times(cls, value: str | None) -> str | None:
        return _time(value)


class CampaignEdit(CampaignBody):
    version: JsonInt | None = Field(None, ge=1, description="the version you read; 409 stale_version if it moved on")


class CampaignOut(Response):
    id: str
    name: str
    description: str | None = None
    parent_id: str | None = None
    start_at: str | None = None
    end_at: str | None = None
    stage: Stage = Field(description="planning, running (from start_at, or while a task or journey attached to it "
                                     "is active) or ended (after end_at)")
    active: int = Field(description="attached tasks and journeys active now")
    version: int
    created_at: str
    updated_at: str


class CampaignsQuery(PageQuery):
    parent_id: str | None = Field(None, pattern=ID, description="only the sub-campaigns of this campaign")
    name: str | None = Field(None, min_length=1, max_length=100, description="part of the name, any case")
    stage: Stage | None = None


def to_api(c: Campaign, now: datetime) -> CampaignOut:
    return CampaignOut(id=c.id, name=c.name, description=c.description, parent_id=c.parent_id, start_at=c.start_at,
                       end_at=c.end_at, stage=rules.stage(c, now), active=c.active, version=c.version,
                       created_at=c.created_at, updated_at=c.updated_at)


def _found(workspace_id: str, campaign_id: str) -> Campaign:
    campaign = repo.get(workspace_id, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id} in this workspace")
    return campaign


def create(workspace_id: str, body: CampaignBody, now: datetime) -> CampaignOut:
    rules.check_times(body.start_at, body.end_at)
    campaign = Campaign(id=ids.ordered_id("cmp", now), name=body.name, description=body.description,
                        parent_id=body.parent_id, start_at=body.start_at, end_at=body.end_at, active=0, version=1,
                        created_at=clock.iso(now), updated_at=clock.iso(now))

    def read() -> Campaign | None:
        return repo.get(workspace_id, body.parent_id) if body.parent_id else None

    def decide(parent: Campaign | None) -> Campaign:
        if body.parent_id is None:
            return campaign
        known = {parent.id: parent} if parent else {}
        chain = [parent.id] if parent else []
        # The parent's own ancestors decide the depth: walk them (a few GetItems at most).
        while parent is not None and parent.parent_id and len(chain) <= rules.MAX_DEPTH:
            parent = repo.get(workspace_id, parent.parent_id)
            if parent is not None:
                known[parent.id] = parent
                chain.append(parent.id)
        rules.check_parent(known, None, body.parent_id)
        return campaign

    dynamo.read_decide_write(read, decide, lambda c, parent: repo.create(workspace_id, c, parent),
                             busy="the parent campaign")
    return to_api(campaign, now)


def get(workspace_id: str, campaign_id: str, now: datetime) -> CampaignOut:
    return to_api(_found(workspace_id, campaign_id), now)


def update(workspace_id: str, campaign_id: str, body: CampaignEdit, now: datetime) -> CampaignOut:
    from chalicelib.errors import Conflict

    def read() -> dict[str, Campaign]:
        everything = repo.all_of(workspace_id)
        if campaign_id not in everything:
            raise NotFound(f"no campaign {campaign_id} in this workspace")
        return everything

    def decide(everything: dict[str, Campaign]) -> tuple[Campaign, list[Campaign]]:
        current = everything[campaign_id]
        if body.version is not None and body.version != current.version:
            raise Conflict("stale_version", f"the campaign is at version {current.version}, not {body.version}; "
                                            "read it again")
        chain = rules.check_parent(everything, campaign_id, body.parent_id)
        return rules.edited(current, name=body.name, description=body.description, parent_id=body.parent_id,
                            start_at=body.start_at, end_at=body.end_at, now=now), [everything[i] for i in chain]

    def write(decided: tuple[Campaign, list[Campaign]], everything: dict[str, Campaign]) -> bool:
        campaign, chain = decided
        return repo.update(workspace_id, campaign, everything[campaign_id], chain)

    campaign, _ = dynamo.read_decide_write(read, decide, write, busy="this campaign")
    return to_api(campaign, now)


def delete(workspace_id: str, campaign_id: str, now: datetime) -> None:
    def read() -> dict[str, Campaign]:
        everything = repo.all_of(workspace_id)
        if campaign_id not in everything:
            raise NotFound(f"no campaign {campaign_id} in this workspace")
        return everything

    def decide(everything: dict[str, Campaign]) -> list[Campaign]:
        from chalicelib.errors import Conflict

        doomed = rules.deletion(everything, campaign_id, now)
        if len(doomed) > MAX_DELETE:
            raise Conflict("too_many", f"it has {len(doomed) - 1} sub-campaigns; delete some of them first "
                                       f"(at most {MAX_DELETE - 1} go with it)")
        return doomed

    dynamo.read_decide_write(read, decide, lambda doomed, _: repo.delete(workspace_id, doomed), busy="this campaign")


MAX_DELETE = 100  # one transaction


def list_page(workspace_id: str, query: CampaignsQuery, now: datetime) -> dict[str, Any]:
    """Campaigns in creation order. ``parent_id`` filters in the Query; ``name`` and
    ``stage`` (derived) filter each page, so a page may hold fewer than ``limit``."""
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    found, last = repo.page(workspace_id, parent_id=query.parent_id, limit=query.limit, start=start)
    shaped = [to_api(c, now) for c in found]
    if query.name:
        shaped = [c for c in shaped if query.name.casefold() in c.name.casefold()]
    if query.stage:
        shaped = [c for c in shaped if c.stage is query.stage]
    return {"items": shaped, "next_cursor": pagination.encode(last)}
