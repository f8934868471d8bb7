"""Event judgments: one waiting item per user, the only per-user item a step writes.

A cohort arriving at an event judgment is parked until its window ends; each of its users
gets a waiting item, pk ``<ws>#jwait#<user_id>``, sk ``<journey>#<node>#<parked cohort>``
(event name, conditions, deadline, the yes branch's next node, the user's entry, status
``waiting``). The events handler, for a stored event of a name some running journey judges
(a ``judge#`` listener, one per journey and node), Queries the user's waiting items and
claims each matching one (status ``waiting`` -> ``yes``, conditional, naming the event):
the user at once leaves by ``yes`` in a cohort of one (id from the parked cohort, the node
and ``yes:<user>``), counted once. When the window ends the parked cohort is released: its
users still ``waiting`` are claimed ``no`` (conditional) and leave by ``no``; a user the
event took is not among them. Both claims accept their own earlier claim, so a retried
message or step does the same again and nothing twice.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import aws, clock, dynamo
from chalicelib.config import settings
from chalicelib.events.messages import EventsMessage
from chalicelib.journeys import cohorts, event_entry
from chalicelib.journeys.cohorts import Cohort

THREADS = 16


def _table() -> str:
    return settings.table("journeys")


def waiter_pk(workspace_id: str, user_id: str) -> str:
    return f"{workspace_id}#jwait#{user_id}"


def _sk(cohort: Cohort) -> str:
    return f"{cohort.journey_id}#{cohort.node_id}#{cohort.cohort_id}"


def register_judgments(workspace_id: str, journey_id: str, events: set[str]) -> None:
    for name in events:
        aws.dynamodb().put_item(TableName=_table(), Item={
            "pk": {"S": f"{workspace_id}#jlisten"}, "sk": {"S": f"judge#{journey_id}#{name}"},
            "kind": {"S": "journey_judgment_listener"}, "event": {"S": name}})


def unregister_judgments(workspace_id: str, journey_id: str) -> None:
    answer = aws.dynamodb().query(TableName=_table(), KeyConditionExpression="pk = :pk AND begins_with(sk, :p)",
                                  ExpressionAttributeValues={":pk": {"S": f"{workspace_id}#jlisten"},
                                                             ":p": {"S": f"judge#{journey_id}#"}})
    dynamo.batch_delete(_table(), [dynamo.key(i["pk"]["S"], i["sk"]["S"]) for i in answer.get("Items", [])])


def _parallel(fn: Any, items: list[Any]) -> list[Any]:
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return list(pool.map(fn, items))


def put_waiters(parked: Cohort, config: dict[str, Any], yes_target: str | None) -> None:
    """One waiting item per user of a parked cohort (only if absent: a claim is never undone)."""
    def one(user: str) -> None:
        item = {"pk": {"S": waiter_pk(parked.workspace_id, user)}, "sk": {"S": _sk(parked)},
                "kind": {"S": "journey_waiter"}, "status": {"S": "waiting"},
                "event": {"S": str(config.get("event"))}, "where": {"S": json.dumps(config.get("where") or [])},
                "deadline": {"S": parked.due_at or ""}, "journey": {"S": parked.journey_id},
                "node": {"S": parked.node_id}, "cohort": {"S": parked.cohort_id},
                "version": {"N": str(parked.version)}, "entry": {"S": parked.entry_of(user)},
                "entered_at": {"S": parked.entered_at_of(user)}, "props": {"S": json.dumps(parked.props_of(user))},
                "expires_at": {"N": str(int(clock.parse_iso(parked.due_at or clock.iso(clock.now())).timestamp())
                                        + 86400 * 30)}}
        if yes_target:
            item["yes_target"] = {"S": yes_target}
        if parked.touch:
            item["touch"] = {"S": parked.touch}
        try:
            aws.dynamodb().put_item(TableName=_table(), Item=item, ConditionExpression="attribute_not_exists(pk)")
        except ClientError as error:
            if error.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
    _parallel(one, list(parked.users))


def claim(pk: str, sk: str, status: str, token: str) -> bool:
    try:
        aws.dynamodb().update_item(
            TableName=_table(), Key=dynamo.key(pk, sk), UpdateExpression="SET #s = :s, claim = :t",
            ConditionExpression="#s = :waiting OR (#s = :s AND claim = :t)",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":s": {"S": status}, ":t": {"S": token}, ":waiting": {"S": "waiting"}})
        return True
    except ClientError as error:
        if error.response["Error"]["Code"] == "ConditionalCheckFailedException":
            return False
        raise


def claim_remaining(parked: Cohort) -> set[str]:
    """At the window's end: the users still waiting, now claimed "no"."""
    claimed = _parallel(lambda u: claim(waiter_pk(parked.workspace_id, u), _sk(parked), "no", parked.cohort_id),
                        list(parked.users))
    return {u for u, ok in zip(parked.users, claimed) if ok}


def on_events(message: EventsMessage, now: datetime, items: list[dict[str, Any]] | None = None) -> int:
    """Move the users the message's events answer out of their event judgments ("yes")."""
    from chalicelib.journeys import runtime, runtime_repo

    judged = {i["event"] for i in event_entry.listeners(message.workspace_id, "judge#", items)}
    moved = 0
    for event in message.events:
        if event.name not in judged:
            continue
        answer = aws.dynamodb().query(TableName=_table(), KeyConditionExpression="pk = :pk",
                                      ExpressionAttributeValues={":pk": {"S": waiter_pk(message.workspace_id,
                                                                                         event.user_id)}})
        for raw in answer.get("Items", []):
            waiter = {k: (v.get("S") or v.get("N")) for k, v in raw.items()}
            if waiter["event"] != event.name or waiter.get("deadline", "") < event.ts[:19]:
                continue
            if not event_entry.matches({"event": event.name, "where": json.loads(waiter["where"])}, event):
                continue
            if not claim(raw["pk"]["S"], raw["sk"]["S"], "yes", event.event_id):
                continue
            parked_id, node_id, jid = waiter["cohort"], waiter["node"], waiter["journey"]
            parked = Cohort(workspace_id=message.workspace_id, journey_id=jid, version=int(waiter["version"]),
                            cohort_id=parked_id, node_id=node_id, users=(event.user_id,), entry_id=waiter["entry"],
                            entered_at=waiter["entered_at"], touch=waiter.get("touch"),
                            per_user={event.user_id: {"props": json.loads(waiter["props"])}}
                            if waiter["props"] != "{}" else {})
            target = waiter.get("yes_target")
            counts = {node_id: {"passed:yes": 1, "waiting": -1}}
            if target:
                child = cohorts.child(parked, node_id, f"yes:{event.user_id}", [event.user_id], to_node=target)
                child = cohorts.Cohort(**{**child.__dict__, "branch": "yes"})
                runtime_repo.put_cohort(child, int(now.timestamp()))
                runtime.enqueue([runtime.StepMessage(workspace_id=message.workspace_id, journey_id=jid,
                                                     cohort_id=child.cohort_id)])
            runtime_repo.finish_step(parked, [], "yes", clock.iso(now), int(now.timestamp()), counts,
                                     marker_sk=f"yes#{event.user_id}")
            moved += 1
    return moved
