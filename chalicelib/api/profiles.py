"""Profiles, tags, and a user's events."""
from __future__ import annotations

from typing import Any

from chalice import Blueprint

from chalicelib import clock
from chalicelib.api.http import endpoint, workspace_of
from chalicelib.events import queries
from chalicelib.events.schemas import Event, EventsQuery
from chalicelib.profiles import profiles, tags
from chalicelib.profiles.schemas import ProfilesQuery, Profile, ProfileBatch, ProfileBatchResult, ProfileDetail, ProfileUpsert, Tags, TagsChange
from chalicelib.schemas import Page
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

bp = Blueprint(__name__)


@endpoint(bp, "/v1/profiles/{user_id}", "PUT", role=Role.operator, body=ProfileUpsert, response=Profile)
def put_profile(principal: Principal, user_id: str, body: ProfileUpsert) -> Profile:
    """Create or merge a profile: given attributes set, null removes, absent kept."""
    return profiles.upsert(workspace_of(principal), user_id, body, clock.now())


@endpoint(bp, "/v1/profiles:batch", "POST", role=Role.operator, body=ProfileBatch, response=ProfileBatchResult)
def batch_profiles(principal: Principal, body: ProfileBatch) -> ProfileBatchResult:
    """Upsert up to 1000 profiles; bad items are reported by index, good ones kept."""
    return profiles.upsert_batch(workspace_of(principal), body, clock.now())


@endpoint(bp, "/v1/profiles", "GET", role=Role.viewer, query=ProfilesQuery, response=Page[Profile])
def list_profiles(principal: Principal, query: ProfilesQuery) -> dict[str, Any]:
    """List profiles by user id, or find the profiles with an email (?email=) or phone (?phone=)."""
    return profiles.list_page(workspace_of(principal), query)


@endpoint(bp, "/v1/profiles/{user_id}", "GET", role=Role.viewer, response=ProfileDetail)
def get_profile(principal: Principal, user_id: str) -> ProfileDetail:
    """A profile with its tags and per-event aggregates (event_stats)."""
    return profiles.get(workspace_of(principal), user_id)


@endpoint(bp, "/v1/profiles/{user_id}", "DELETE", role=Role.operator, status=204)
def delete_profile(principal: Principal, user_id: str) -> None:
    """Erase a profile, its aggregates and its events."""
    profiles.start_erasure(workspace_of(principal), user_id, clock.now())


@endpoint(bp, "/v1/profiles/{user_id}/events", "GET", role=Role.viewer, query=EventsQuery, response=Page[Event])
def list_user_events(principal: Principal, user_id: str, query: EventsQuery) -> dict[str, Any]:
    """The user's stored events, newest first; ?name= for one event name."""
    return queries.list_page(workspace_of(principal), user_id, query, clock.now())


@endpoint(bp, "/v1/profiles/{user_id}/tags", "POST", role=Role.operator, body=TagsChange, response=Tags)
def change_tags(principal: Principal, user_id: str, body: TagsChange) -> Tags:
    """Add and remove tags on a profile."""
    return tags.change(workspace_of(principal), user_id, body, clock.now())
