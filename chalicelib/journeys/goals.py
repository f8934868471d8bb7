"""Goal and exit: a journey's goal event counts a conversion per enrollment and, with
``exit``, removes the user wherever they are.

Settings ``goal``: ``event`` (a name), optional ``within`` (a duration after the entry; a
later goal event is no conversion of that entry) and ``exit`` (default true). A running
journey with a goal has a listener item (pk ``<ws>#jlisten``, sk ``goal#<journey_id>``:
the event, within, exit, and how its users' entries are found), written at the start and
when the settings of a live journey change, deleted at the end; the events handler reads
it in the same one Query as the trigger and judgment listeners, so a workspace without a
goal pays nothing more.

For each stored event of a goal's name the handler finds the user's current enrollments
(the ``entry`` marker: its last entry, for triggers where a user can come back; else the
journey's audience runs holding the user), keeps those entered at or before the event and,
with ``within``, no longer ago than that, and for each one writes, in one transaction, a
goal item (pk ``<ws>#jny#<journey>#u#<user>``, sk ``goal#<entry>``, condition: absent) and
``conversions`` +1 on the journey's stats: a conversion per enrollment, exactly once, however
often the event or its message comes. With ``exit`` the user's waiting items in the
journey's event judgments are claimed ``exit`` (they never move on by ``yes``) and counted
``exited`` at once at that node; the step runner, for a journey with an exit goal, reads the
goal items of a cohort's users (one BatchGetItem per 100 users) and leaves the exited
ones out, counted ``exited`` and ``exited_goal`` at the node where it meets them (a parked
cohort: when its wait ends). A journey without an exit goal reads nothing more.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, clock, dynamo, logs
from chalicelib.config import settings
from chalicelib.events.messages import EventsMessage, QueuedEvent
from chalicelib.journeys import expressions
from chalicelib.journeys.cohorts import Cohort

GOAL_NODE = "#goal"  # the stats "node" holding the journey's conversions
LISTENER_PREFIX = "goal#"


def _table() -> str:
    return settings.table("journeys")


@dataclass(frozen=True)
class Enrollment:
    entry_id: str
    entered_at: str


@dataclass(frozen=True)
class GoalListener:
    journey_id: str
    event: str
    within: str | None
    exit: bool
    by_marker: bool  # the user's entries are in their entry marker (else: the audience runs)


def exit_goal(journey_settings: dict[str, Any] | None) -> bool:
    """Whether the journey's goal removes users (so its steps must look for them)."""
    goal = (journey_settings or {}).get("goal") or {}
    return bool(goal.get("event")) and bool(goal.get("exit", True))


# --- the listener ---------------------------------------------------------------------------

def register(workspace_id: str, journey_id: str, journey_settings: dict[str, Any], by_marker: bool) -> None:
    """Listen for the journey's goal (or stop listening when it has none)."""
    goal = journey_settings.get("goal") or {}
    key = dynamo.key(f"{workspace_id}#jlisten", f"{LISTENER_PREFIX}{journey_id}")
    if not goal.get("event"):
        aws.dynamodb().delete_item(TableName=_table(), Key=key)
        return
    item = {**key, "kind": {"S": "journey_goal_listener"}, "event": {"S": str(goal["event"])},
            "exit": {"BOOL": bool(goal.get("exit", True))}, "by_marker": {"BOOL": by_marker}}
    if goal.get("within"):
        item["within"] = {"S": str(goal["within"])}
    aws.dynamodb().put_item(TableName=_table(), Item=item)


def unregister(workspace_id: str, journey_id: str) -> None:
    aws.dynamodb().delete_item(TableName=_table(), Key=dynamo.key(f"{workspace_id}#jlisten",
                                                                  f"{LISTENER_PREFIX}{journey_id}"))


def listeners_in(items: list[dict[str, Any]]) -> list[GoalListener]:
    """The goal listeners among the raw ``<ws>#jlisten`` items (read once per message)."""
    return [GoalListener(journey_id=raw["sk"]["S"][len(LISTENER_PREFIX):], event=raw["event"]["S"],
                         within=raw.get("within", {}).get("S"), exit=raw.get("exit", {}).get("BOOL", True),
                         by_marker=raw.get("by_marker", {}).get("BOOL", True))
            for raw in items if raw["sk"]["S"].startswith(LISTENER_PREFIX)]


# --- pure -----------------------------------------------------------------------------------

def converts(enrollment: Enrollment, event_ts: str, within: str | None) -> bool:
    """A goal event at ``event_ts`` converts an enrollment it does not precede, within ``within``."""
    entered, at = clock.parse_iso(enrollment.entered_at), clock.parse_iso(event_ts)
    if at < entered:
        return False
    window = expressions.parse_duration(within) if within else None
    return window is None or at <= entered + window


# --- storage --------------------------------------------------------------------------------

def goal_pk(workspace_id: str, journey_id: str, user_id: str) -> str:
    from chalicelib.journeys.runtime_repo import marker_pk

    return marker_pk(workspace_id, journey_id, user_id)


def _enrollments(workspace_id: str, listener: GoalListener, user_id: str) -> list[Enrollment]:
    from chalicelib.audiences import repo as audiences_repo
    from chalicelib.journeys import runtime_repo

    if listener.by_marker:
        found = aws.dynamodb().get_item(TableName=_table(), ConsistentRead=True,
                                        Key=dynamo.key(goal_pk(workspace_id, listener.journey_id, user_id), "entry"))
        raw = found.get("Item")
        if raw is None:
            return []
        entry = raw.get("last_entry", raw["last_run"])["S"]
        return [Enrollment(entry, raw["last_at"]["S"])]
    out = []
    for run in runtime_repo.runs(workspace_id, listener.journey_id):
        if run.get("snapshot") and user_id in audiences_repo.members_in(workspace_id, run["snapshot"], [user_id]):
            out.append(Enrollment(run["sk"][len("run#"):], run["at"]))
    return out


def _convert(workspace_id: str, listener: GoalListener, user_id: str, enrollment: Enrollment,
             event: QueuedEvent, now: datetime) -> bool:
    """Count one conversion of one enrollment, once: False when it was counted before."""
    from chalicelib.journeys import runtime_repo

    item = {"pk": {"S": goal_pk(workspace_id, listener.journey_id, user_id)},
            "sk": {"S": f"goal#{enrollment.entry_id}"}, "kind": {"S": "journey_goal"},
            "at": {"S": event.ts}, "event_id": {"S": event.event_id}, "exit": {"BOOL": listener.exit},
            "expires_at": {"N": str(int(now.timestamp()) + runtime_repo.RETENTION_SECONDS)}}
    deltas = {"conversions": 1}
    shard = runtime_repo.shard_of(f"{user_id}#{enrollment.entry_id}")
    try:
        aws.dynamodb().transact_write_items(TransactItems=[
            {"Put": {"TableName": _table(), "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}},
            runtime_repo.counter_update(workspace_id, listener.journey_id, GOAL_NODE, shard, deltas)])
        return True
    except ClientError as error:
        reasons = error.response.get("CancellationReasons") or []
        if reasons and reasons[0].get("Code") == "ConditionalCheckFailed":
            return False
        raise


def _exit_waiters(workspace_id: str, listener: GoalListener, user_id: str, entries: set[str], now: datetime) -> None:
    """The user leaves the journey's event judgments: claimed ``exit``, counted at that node once."""
    from chalicelib.journeys import runtime_repo, waiters

    pk = waiters.waiter_pk(workspace_id, user_id)
    answer = aws.dynamodb().query(TableName=_table(), KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                                  ExpressionAttributeValues={":pk": {"S": pk}, ":p": {"S": f"{listener.journey_id}#"}})
    for raw in answer.get("Items", []):
        if raw["entry"]["S"] not in entries or not waiters.claim(pk, raw["sk"]["S"], "exit", "goal"):
            continue
        parked = Cohort(workspace_id=workspace_id, journey_id=listener.journey_id, version=int(raw["version"]["N"]),
                        cohort_id=raw["cohort"]["S"], node_id=raw["node"]["S"], users=(user_id,),
                        entry_id=raw["entry"]["S"], entered_at=raw["entered_at"]["S"])
        runtime_repo.finish_step(parked, [], "exited", clock.iso(now), int(now.timestamp()),
                                 {parked.node_id: {"waiting": -1, "exited": 1, "exited_goal": 1}},
                                 marker_sk=f"exit#{user_id}")


def on_events(message: EventsMessage, now: datetime, items: list[dict[str, Any]]) -> int:
    """Count the conversions the message's events make (and remove the users, with exit);
    ``items`` are the workspace's listener items. Returns the conversions counted now."""
    found = listeners_in(items)
    if not found:
        return 0
    counted = 0
    for listener in found:
        for event in sorted(message.events, key=lambda e: (e.ts, e.event_id)):
            if event.name != listener.event:
                continue
            converted = {e.entry_id for e in _enrollments(message.workspace_id, listener, event.user_id)
                         if e.entry_id != event.event_id and converts(e, event.ts, listener.within)}
            for entry in sorted(converted):
                if _convert(message.workspace_id, listener, event.user_id, Enrollment(entry, ""), event, now):
                    counted += 1
            if converted and listener.exit:  # again on a redelivery: the claims and the marker are idempotent
                _exit_waiters(message.workspace_id, listener, event.user_id, converted, now)
    if counted:
        logs.logger.info("journey goal conversions", extra={"conversions": counted})
    return counted


# --- the step runner's side -----------------------------------------------------------------

def exited(cohort: Cohort) -> set[str]:
    """The cohort's users whose entry a goal ended (one BatchGetItem per 100 users)."""
    keys = [dynamo.key(goal_pk(cohort.workspace_id, cohort.journey_id, u), f"goal#{cohort.entry_of(u)}")
            for u in cohort.users]
    found = dynamo.batch_get({_table(): keys}, projection={_table(): "pk, sk, #x"}, names={"#x": "exit"})[_table()]
    prefix = goal_pk(cohort.workspace_id, cohort.journey_id, "")
    return {raw["pk"]["S"][len(prefix):] for raw in found if raw.get("exit", {}).get("BOOL", True)}


def without(cohort: Cohort, users: set[str]) -> Cohort:
    return replace(cohort, users=tuple(u for u in cohort.users if u not in users),
                   per_user={u: v for u, v in cohort.per_user.items() if u not in users})


def conversion_of(workspace_id: str, journey_id: str, user_id: str, entry_id: str) -> dict[str, Any] | None:
    """One enrollment's conversion (for the user's history): one GetItem."""
    raw = aws.dynamodb().get_item(TableName=_table(), Key=dynamo.key(goal_pk(workspace_id, journey_id, user_id),
                                                                     f"goal#{entry_id}")).get("Item")
    if raw is None:
        return None
    return {"at": raw["at"]["S"], "event_id": raw["event_id"]["S"], "exit": raw.get("exit", {}).get("BOOL", True)}


__all__ = ["register", "unregister", "on_events", "exited", "without", "converts", "exit_goal", "conversion_of"]
