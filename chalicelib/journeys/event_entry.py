"""Event triggers: events stored by the events pipeline enter the journeys that listen for them.

A running journey whose trigger is ``trigger_event`` has a listener item (pk
``<ws>#jlisten``, sk the journey id: event name, version, conditions), written at its start
and deleted at its end. After the events handler stores a queued message, it reads the
workspace's listeners (one Query per message, shared with goals and judgments) and
``on_events``, per journey, hands the message's matching users to ``gathering``: the entries
of all messages received in the same short window become one root cohort per journey,
window and shard when the window closes (``gathering.WINDOW_SECONDS``; 0 enters each
message's users at once, as one run named by a hash of its event ids). Each user's entry is
the event that let them in (its id is the entry id, its properties what attribute judgments
read); a redelivered message enters nobody twice.

``min_count`` above 1 (with ``within``) reads the user's latest events of that name: one
Query per matching user, only for such triggers. A paused journey takes no entries.
"""
from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from chalicelib import aws, clock, logs
from chalicelib.audiences.rules import _Comparison as Comparison
from chalicelib.audiences.schemas import PropertyCondition
from chalicelib.config import settings
from chalicelib.events import repo as events_repo
from chalicelib.events.messages import EventsMessage, QueuedEvent
from chalicelib.journeys import expressions
from chalicelib.journeys.graph import Node

RECENT_EVENTS = 100


def _pk(workspace_id: str) -> str:
    return f"{workspace_id}#jlisten"


def register(workspace_id: str, journey_id: str, version: int, trigger: Node) -> None:
    import json

    aws.dynamodb().put_item(TableName=settings.table("journeys"), Item={
        "pk": {"S": _pk(workspace_id)}, "sk": {"S": journey_id}, "kind": {"S": "journey_listener"},
        "event": {"S": str(trigger.config.get("event"))}, "version": {"N": str(version)},
        "config": {"S": json.dumps(trigger.config, separators=(",", ":"))}})


def unregister(workspace_id: str, journey_id: str) -> None:
    aws.dynamodb().delete_item(TableName=settings.table("journeys"),
                               Key={"pk": {"S": _pk(workspace_id)}, "sk": {"S": journey_id}})


def listener_items(workspace_id: str) -> list[dict[str, Any]]:
    """Every listener item of the workspace (triggers, judgments, goals): one Query, read
    once per events message and handed to each consumer."""
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"TableName": settings.table("journeys"), "KeyConditionExpression": "pk = :pk",
                              "ExpressionAttributeValues": {":pk": {"S": _pk(workspace_id)}}}
    while True:
        answer = aws.dynamodb().query(**params)
        items += answer.get("Items", [])
        if "LastEvaluatedKey" not in answer:
            return items
        params["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def listeners(workspace_id: str, kind: str = "", items: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """The workspace's trigger listeners (``kind`` ""), or its judgment listeners ("judge#"),
    from ``items`` when the caller read them already."""
    import json

    found = listener_items(workspace_id) if items is None else items
    if kind == "judge#":
        items = [raw for raw in found if raw["sk"]["S"].startswith("judge#")]
    else:
        items = [raw for raw in found if not raw["sk"]["S"].startswith(("judge#", "goal#"))]
    if kind == "judge#":
        return [{"event": raw["event"]["S"]} for raw in items]
    return [{"journey_id": raw["sk"]["S"], "event": raw["event"]["S"], "version": int(raw["version"]["N"]),
             "config": json.loads(raw["config"]["S"])} for raw in items]


def matches(config: dict[str, Any], event: QueuedEvent) -> bool:
    """The event's name and ``where`` conditions (pure)."""
    if event.name != config.get("event"):
        return False
    for raw in config.get("where") or ():
        condition = PropertyCondition.model_validate(raw)
        if not Comparison(condition).test(event.properties.get(condition.property)):
            return False
    return True


def _often_enough(workspace_id: str, user_id: str, config: dict[str, Any], now: datetime) -> bool:
    needed = int(config.get("min_count") or 1)
    if needed <= 1:
        return True
    window = expressions.parse_duration(config.get("within")) if config.get("within") else None
    since = clock.iso(now - window) if window else ""
    found, _ = events_repo.list_events(workspace_id, user_id, str(config["event"]), RECENT_EVENTS, None, now)
    return sum(1 for e in found if e.ts >= since) >= needed


def on_events(message: EventsMessage, now: datetime, items: list[dict[str, Any]] | None = None) -> int:
    """Enter the message's matching users into the journeys listening; returns entries asked."""
    from chalicelib.journeys import gathering, runtime

    found = listeners(message.workspace_id, items=items)
    if not found:
        return 0
    run_id = "ev-" + hashlib.sha256("\n".join(sorted(e.event_id for e in message.events)).encode()).hexdigest()[:16]
    asked = 0
    for listener in found:
        chosen: dict[str, QueuedEvent] = {}
        for event in sorted(message.events, key=lambda e: (e.ts, e.event_id)):
            if event.user_id not in chosen and matches(listener["config"], event):
                chosen[event.user_id] = event
        chosen = {u: e for u, e in chosen.items()
                  if _often_enough(message.workspace_id, u, listener["config"], now)}
        if not chosen:
            continue
        if gathering.WINDOW_SECONDS > 0:  # gathered per window and shard, entered when the window closes
            gathering.gather(message.workspace_id, listener["journey_id"], listener["version"], chosen,
                             message.received_at, now)
            asked += len(chosen)
            continue
        try:
            runtime.enter(message.workspace_id, listener["journey_id"], sorted(chosen), run_id, now,
                          version=listener["version"],
                          props={u: e.properties for u, e in chosen.items()},
                          entries={u: e.event_id for u, e in chosen.items()})
            asked += len(chosen)
        except LookupError:
            logs.logger.info("events for a journey not running", extra={"journey_id": listener["journey_id"]})
    return asked


__all__ = ["register", "unregister", "on_events", "matches", "listeners"]
