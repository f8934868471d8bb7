"""Campaigns, pure: the stage, the tree rules (never its own ancestor, bounded depth) and
what a delete takes with it. No I/O: ``campaigns.repo`` reads and writes, ``service``
puts them together.

Stage is derived, never stored, so it cannot go stale: ``ended`` once ``end_at`` has
passed; ``running`` from ``start_at`` on, or while anything attached to it (a task
scheduled or sending, a journey scheduled, running or paused) is active; ``planning``
before that.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import Enum

from chalicelib import clock
from chalicelib.errors import Conflict, Invalid

MAX_DEPTH = 5  # a campaign, its sub-campaigns, theirs... at most this many levels


class Stage(str, Enum):
    planning = "planning"
    running = "running"
    ended = "ended"


@dataclass(frozen=True)
class Campaign:
    id: str
    name: str
    description: str | None
    parent_id: str | None
    start_at: str | None
    end_at: str | None
    active: int          # attached tasks and journeys that are active now
    version: int
    created_at: str
    updated_at: str


def stage(campaign: Campaign, now: datetime) -> Stage:
    if campaign.end_at and clock.parse_iso(campaign.end_at) <= now:
        return Stage.ended
    if campaign.active > 0 or (campaign.start_at and clock.parse_iso(campaign.start_at) <= now):
        return Stage.running
    return Stage.planning


def check_times(start_at: str | None, end_at: str | None) -> None:
    if start_at and end_at and clock.parse_iso(end_at) <= clock.parse_iso(start_at):
        raise Invalid("end_at", "must be later than start_at")


def ancestors(campaigns: Mapping[str, Campaign], parent_id: str | None) -> list[str]:
    """The chain from ``parent_id`` up to its root (ids), as far as ``campaigns`` knows it."""
    chain: list[str] = []
    while parent_id is not None and parent_id not in chain:
        chain.append(parent_id)
        parent = campaigns.get(parent_id)
        parent_id = parent.parent_id if parent else None
    return chain


def children(campaigns: Mapping[str, Campaign]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for c in campaigns.values():
        if c.parent_id is not None:
            out.setdefault(c.parent_id, []).append(c.id)
    return out


def subtree(campaigns: Mapping[str, Campaign], root: str) -> list[str]:
    """``root`` and every campaign below it, parents before children."""
    below = children(campaigns)
    order, stack = [], [root]
    while stack:
        current = stack.pop()
        if current in order:
            continue
        order.append(current)
        stack.extend(reversed(below.get(current, [])))
    return order


def height(campaigns: Mapping[str, Campaign], root: str) -> int:
    """Levels from ``root`` down to its deepest descendant (1 for a leaf)."""
    below = children(campaigns)

    def levels(node: str, seen: frozenset[str]) -> int:
        kids = [k for k in below.get(node, []) if k not in seen]
        return 1 + max((levels(k, seen | {k}) for k in kids), default=0)

    return levels(root, frozenset({root}))


def check_parent(campaigns: Mapping[str, Campaign], campaign_id: str | None, parent_id: str | None) -> list[str]:
    """The new parent's ancestor chain (parent first), or a 400 naming ``parent_id``: the
    parent must exist, must not be the campaign or one of its descendants, and the tree
    must stay within MAX_DEPTH levels. ``campaign_id`` None: a new campaign."""
    if parent_id is None:
        return []
    if parent_id not in campaigns:
        raise Invalid("parent_id", "no campaign with this id in this workspace")
    chain = ancestors(campaigns, parent_id)
    if campaign_id is not None and campaign_id in chain:
        raise Invalid("parent_id", "a campaign cannot be its own parent or ancestor: the chosen parent is the "
                                   "campaign itself or one of its sub-campaigns")
    own = height(campaigns, campaign_id) if campaign_id is not None else 1
    if len(chain) + own > MAX_DEPTH:
        raise Invalid("parent_id", f"campaigns nest at most {MAX_DEPTH} levels deep; under this parent the tree "
                                   f"would have {len(chain) + own}")
    return chain


def deletion(campaigns: Mapping[str, Campaign], campaign_id: str, now: datetime) -> list[Campaign]:
    """What deleting ``campaign_id`` removes (it and its sub-campaigns), or 409 when any of
    them is running with something attached, or a sub-campaign is running."""
    doomed = [campaigns[i] for i in subtree(campaigns, campaign_id)]
    for c in doomed:
        if c.active > 0:
            whose = "it" if c.id == campaign_id else f"its sub-campaign {c.id} ({c.name})"
            raise Conflict("in_use", f"{whose} has {c.active} running task(s) or journey(s); stop or cancel them first")
        if c.id != campaign_id and stage(c, now) is Stage.running:
            raise Conflict("in_use", f"its sub-campaign {c.id} ({c.name}) is running; end it first")
    return doomed


def edited(current: Campaign, *, name: str, description: str | None, parent_id: str | None,
           start_at: str | None, end_at: str | None, now: datetime) -> Campaign:
    check_times(start_at, end_at)
    return replace(current, name=name, description=description, parent_id=parent_id, start_at=start_at,
                   end_at=end_at, version=current.version + 1, updated_at=clock.iso(now))
