"""Chat campaigns through the API: each rule of the reference, refused with 400 or 409
in words naming the rule."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from chalicelib import clock, dynamo, ids, pagination
from chalicelib.chat import campaigns as rules
from chalicelib.chat import repo, runs
from chalicelib.chat.campaigns import ChatCampaign, Plan, Status
from chalicelib.errors import Invalid, NotFound
from chalicelib.schemas import JsonInt, PageQuery, Request, Response


class PlanBody(Request):
    every: JsonInt = Field(ge=1, le=10_000)
    unit: Literal["minute", "hour", "day"]


class ChatBody(Request):
    name: str = Field(min_length=1, max_length=rules.MAX_NAME)
    description: str | None = Field(None, max_length=rules.MAX_DESCRIPTION)
    journey_id: str = Field(min_length=1, max_length=64)
    audience_id: str = Field(min_length=1, max_length=64)
    start_at: str = Field(max_length=40, description="ISO-8601 with an offset; later than now, earlier than end_at")
    end_at: str = Field(max_length=40, description="ISO-8601 with an offset")
    plan: PlanBody

    @field_validator("start_at", "end_at")
    @classmethod
    def _times(cls, value: str) -> str:
        return clock.iso(clock.parse_iso(value))


class ChatOut(Response):
    id: str
    name: str
    description: str | None = None
    journey_id: str
    audience_id: str
    start_at: str
    end_at: str
    plan: dict[str, Any]
    status: Status
    version: int
    created_at: str
    updated_at: str


class ChatQuery(PageQuery):
    name: str | None = Field(None, min_length=1, max_length=rules.MAX_NAME, description="part of the name, any case")
    journey_id: str | None = Field(None, min_length=1, max_length=64)
    audience_id: str | None = Field(None, min_length=1, max_length=64)
    status: Status | None = None


def to_api(c: ChatCampaign, now: datetime) -> ChatOut:
    return ChatOut(id=c.id, name=c.name, description=c.description, journey_id=c.journey_id,
                   audience_id=c.audience_id, start_at=c.start_at, end_at=c.end_at,
                   plan={"every": c.plan.every, "unit": c.plan.unit}, status=rules.status(c, now),
                   version=c.version, created_at=c.created_at, updated_at=c.updated_at)


def _check_references(workspace_id: str, body: ChatBody) -> None:
    from chalicelib.audiences import repo as audiences_repo
    from chalicelib.journeys import repo as journeys_repo

    journey = journeys_repo.get(workspace_id, body.journey_id)
    trigger = None
    if journey is not None and journey.published_version is not None:
        version = journeys_repo.get_version(workspace_id, body.journey_id, journey.published_version)
        if version is not None:
            trigger = next((n.type for n in version[0].nodes if n.type.startswith("trigger_")), None)
    rules.check_journey(journey.status if journey else None,
                        journey is not None and journey.published_version is not None, trigger)
    if audiences_repo.get_audience(workspace_id, body.audience_id) is None:
        raise Invalid("audience_id", "no audience with this id in this workspace")


def _found(workspace_id: str, chat_id: str) -> ChatCampaign:
    found = repo.get(workspace_id, chat_id)
    if found is None:
        raise NotFound(f"no chat campaign {chat_id} in this workspace")
    return found


def create(workspace_id: str, body: ChatBody, now: datetime) -> ChatOut:
    rules.check_period(body.start_at, body.end_at, now)
    _check_references(workspace_id, body)
    chat = ChatCampaign(id=ids.ordered_id("chat", now), name=body.name, description=body.description,
                        journey_id=body.journey_id, audience_id=body.audience_id, start_at=body.start_at,
                        end_at=body.end_at, plan=Plan(body.plan.every, body.plan.unit), stored_status=Status.pending,
                        version=1, created_at=clock.iso(now), updated_at=clock.iso(now))
    if not repo.put(workspace_id, chat, None):
        raise Invalid("id", "a chat campaign with this id appeared meanwhile; try again")
    runs.schedule_first(workspace_id, chat, now)
    return to_api(chat, now)


def get(workspace_id: str, chat_id: str, now: datetime) -> ChatOut:
    return to_api(_found(workspace_id, chat_id), now)


def update(workspace_id: str, chat_id: str, body: ChatBody, now: datetime) -> ChatOut:
    def decide(current: ChatCampaign) -> ChatCampaign:
        changed = rules.modified(current, name=body.name, description=body.description, journey_id=body.journey_id,
                                 audience_id=body.audience_id, start_at=body.start_at, end_at=body.end_at,
                                 plan=Plan(body.plan.every, body.plan.unit), now=now)
        if (body.journey_id, body.audience_id) != (current.journey_id, current.audience_id):
            _check_references(workspace_id, body)
        return changed

    done = dynamo.read_decide_write(lambda: _found(workspace_id, chat_id), decide,
                                    lambda changed, read: repo.put(workspace_id, changed, read),
                                    busy=f"chat campaign {chat_id}")
    runs.schedule_first(workspace_id, done, now)  # a new start: a new chain (the old one stops)
    return to_api(done, now)


def suspend(workspace_id: str, chat_id: str, now: datetime) -> ChatOut:
    done = dynamo.read_decide_write(lambda: _found(workspace_id, chat_id), lambda c: rules.suspended(c, now),
                                    lambda changed, read: repo.put(workspace_id, changed, read),
                                    busy=f"chat campaign {chat_id}")
    return to_api(done, now)


def delete(workspace_id: str, chat_id: str, now: datetime) -> None:
    def decide(current: ChatCampaign) -> ChatCampaign:
        rules.check_delete(current, now)
        return current

    dynamo.read_decide_write(lambda: _found(workspace_id, chat_id), decide,
                             lambda _, read: repo.delete(workspace_id, read), busy=f"chat campaign {chat_id}")


def list_page(workspace_id: str, query: ChatQuery, now: datetime) -> dict[str, Any]:
    """In creation order; journey and audience filter in the Query, name and status
    (derived) on each page, so a page may hold fewer than ``limit``."""
    start = pagination.decode(query.cursor, attribute="pk", expected=workspace_id)
    found, last = repo.page(workspace_id, journey_id=query.journey_id, audience_id=query.audience_id,
                            limit=query.limit, start=start)
    shaped = [to_api(c, now) for c in found]
    if query.name:
        shaped = [c for c in shaped if query.name.casefold() in c.name.casefold()]
    if query.status:
        shaped = [c for c in shaped if c.status is query.status]
    return {"items": shaped, "next_cursor": pagination.encode(last)}
