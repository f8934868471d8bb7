"""What a node does with a cohort, pure: node + cohort + facts + now -> plan.

The step runner reads the facts a node needs (``needs``) in batched reads, calls ``plan``
and carries it out: one next cohort per branch taken, parked cohorts per due minute, sends,
tag changes, data pushes. Nothing here reads or writes anything, so the same inputs always
give the same plan (a redelivered step is split the same way).

Arrival and release: a wait and a result judgment hold users. On arrival their plan parks
users by due minute (``parks``); a parked cohort comes back when due and is released
(``released=True``): a wait lets everybody through, a result judgment then judges.
"""
from __future__ import annotations

import hashlib
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.audiences.rules import _Comparison as Comparison  # one attribute-style test of a value
from chalicelib.audiences.schemas import PropertyCondition
from chalicelib.journeys import expressions, graph
from chalicelib.journeys.cohorts import Cohort
from chalicelib.journeys.graph import Node

HOLDING = ("wait", "result_judgment", "event_judgment")
ACTIONS = ("tag", "generate_audience", "webhook", "kafka")
USER_TIMEZONE_ATTRIBUTE = "timezone"


@dataclass
class Facts:
    """What the runner read for a cohort (only what ``needs`` asked for)."""

    workspace_timezone: str = "UTC"
    tags: dict[str, frozenset[str]] = field(default_factory=dict)
    attributes: dict[str, dict[str, Any]] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)     # audience id -> users of the cohort in it
    statuses: dict[str, set[str]] = field(default_factory=dict)    # user -> statuses their message reached
    still_waiting: set[str] = field(default_factory=set)            # event judgment: users the event did not take


@dataclass
class Plan:
    moves: dict[str | None, list[str]] = field(default_factory=dict)   # branch -> users leaving by it
    parks: dict[str, list[str]] = field(default_factory=dict)          # due minute (ISO) -> users held here
    sends: list[str] = field(default_factory=list)                     # users a touch sends to
    action: str | None = None                                          # a tag change, push or audience for movers
    ended: list[str] = field(default_factory=list)                     # users finishing at an End

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for branch, users in self.moves.items():
            out[f"passed:{branch or '-'}"] += len(users)
        out["parked"] = sum(len(u) for u in self.parks.values())
        out["ended"] = len(self.ended)
        return {k: v for k, v in out.items() if v}


def needs(node: Node, released: bool) -> set[str]:
    """The facts ``plan`` reads for this node: tags, attributes, members, statuses."""
    t, config = node.type, node.config
    if t == "tag_judgment":
        return {"tags"}
    if t == "audience_judgment":
        return {"members"}
    if t == "result_judgment" and released:
        return {"statuses"}
    if t == "event_judgment" and released:
        return {"still_waiting"}
    if t == "wait" and not released and (config.get("timezone") == "user" or config.get("until_attribute")):
        return {"attributes"}
    return set()


def bucket(journey_id: str, node_id: str, user_id: str) -> int:
    """A user's fixed place in 0..9999 for this node: the same on every retry."""
    digest = hashlib.sha256(f"{journey_id}\x1f{node_id}\x1f{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000


def _split(shares: list[tuple[str, int]], journey_id: str, node_id: str, users: tuple[str, ...]) -> dict[str | None, list[str]]:
    moves: dict[str | None, list[str]] = {}
    bounds: list[tuple[int, str]] = []
    total = 0
    for label, percent in shares:
        total += percent * 100
        bounds.append((total, label))
    for user in users:
        place = bucket(journey_id, node_id, user)
        if bounds:
            label = next((name for bound, name in bounds if place < bound), bounds[-1][1])
            moves.setdefault(label, []).append(user)
    return moves


def _zone(name: Any, fallback: str) -> ZoneInfo:
    for candidate in (name, fallback, "UTC"):
        if isinstance(candidate, str) and candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def due_minute(moment: datetime) -> datetime:
    """The minute a cohort due at ``moment`` is released in (never before it)."""
    utc = moment.astimezone(timezone.utc)
    floor = utc.replace(second=0, microsecond=0)
    return floor if floor == utc else floor + timedelta(minutes=1)


def _parse_day(value: Any) -> date | datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if len(value) <= 10:
        return moment.date()
    return moment


def wait_until(config: dict[str, Any], now: datetime, zone: ZoneInfo, attributes: dict[str, Any]) -> datetime:
    """When a user arriving now at a wait with ``config`` may go on (now: at once)."""
    if config.get("duration"):
        return now + (expressions.parse_duration(config["duration"]) or timedelta(0))
    if config.get("until"):
        return datetime.fromisoformat(config["until"])
    if config.get("until_time"):
        hour, minute = (int(p) for p in str(config["until_time"]).split(":"))
        local = now.astimezone(zone)
        days = int(config.get("after_days") or 0)
        moment = datetime.combine(local.date() + timedelta(days=days), time(hour, minute), zone)
        if days == 0 and moment <= local:
            moment += timedelta(days=1)
        return moment
    if config.get("until_attribute"):
        value = _parse_day(attributes.get(config["until_attribute"]))
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=zone)
        if isinstance(value, date):
            return datetime.combine(value, time(0, 0), zone)
    return now


def _park(cohort: Cohort, now: datetime, due: Callable[[str], datetime]) -> Plan:
    """Users due now move on; the others are held by due minute."""
    plan = Plan()
    for user in cohort.users:
        at = due(user)
        if at <= now:
            plan.moves.setdefault(None, []).append(user)
        else:
            plan.parks.setdefault(due_minute(at).strftime("%Y-%m-%dT%H:%M:%SZ"), []).append(user)
    return plan


def plan(node: Node, cohort: Cohort, facts: Facts, now: datetime, *, released: bool = False) -> Plan:
    """What happens to every user of ``cohort`` at ``node`` now."""
    t, config, users = node.type, node.config, cohort.users
    if t == "end":
        return Plan(ended=list(users))
    if t == "wait":
        if released:
            return Plan(moves={None: list(users)})
        by_user = config.get("timezone") == "user"

        def due(user: str) -> datetime:
            attributes = facts.attributes.get(user, {})
            zone = _zone(attributes.get(USER_TIMEZONE_ATTRIBUTE) if by_user else None, facts.workspace_timezone)
            return wait_until(config, now, zone, attributes)
        return _park(cohort, now, due)
    if t == "result_judgment":
        if not released:
            after = expressions.parse_duration(config.get("after")) or timedelta(0)
            return _park(cohort, now, lambda _user: now + after)
        wanted = set(config.get("statuses") or ())
        moves: dict[str | None, list[str]] = {}
        for user in users:
            moves.setdefault("yes" if facts.statuses.get(user, set()) & wanted else "no", []).append(user)
        return Plan(moves=moves)
    if t in graph.TOUCHES:
        return Plan(moves={None: list(users)}, sends=list(users))
    if t == "kafka":  # one record per user, through the send pipeline (deduplicated per user and entry)
        return Plan(moves={None: list(users)}, sends=list(users))
    if t in ACTIONS:
        return Plan(moves={None: list(users)}, action=t)
    if t == "ab_test":
        shares = [(str(v["id"]), int(v["percent"])) for v in config.get("variants") or ()]
        if config.get("control_percent"):
            shares.append((graph.CONTROL, int(config["control_percent"])))
        return Plan(moves=_split(shares, cohort.journey_id, node.id, users))
    if t == "random_split":
        shares = [(str(g["id"]), int(g["percent"])) for g in config.get("groups") or ()]
        return Plan(moves=_split(shares, cohort.journey_id, node.id, users))
    if t == "tag_judgment":
        wanted = set(config.get("tags") or ())
        test = all if config.get("match") == "all" else any
        moves = {}
        for user in users:
            have = facts.tags.get(user, frozenset())
            moves.setdefault("yes" if test(tag in have for tag in wanted) else "no", []).append(user)
        return Plan(moves=moves)
    if t == "attribute_judgment":
        conditions = [PropertyCondition.model_validate(c) for c in config.get("conditions") or ()]
        tests = [(c.property, Comparison(c)) for c in conditions]
        test = any if config.get("match") == "any" else all
        moves = {}
        for user in users:
            props = cohort.props_of(user)
            held = test(comparison.test(props.get(name)) for name, comparison in tests)
            moves.setdefault("yes" if held else "no", []).append(user)
        return Plan(moves=moves)
    if t == "audience_judgment":
        moves = {}
        order = [str(a) for a in config.get("audiences") or ()]
        for user in users:
            label = next((a for a in order if user in facts.members.get(a, set())), graph.OTHER)
            moves.setdefault(label, []).append(user)
        return Plan(moves=moves)
    # triggers (and event judgments, not run yet: they let users through on "no")
    if t == "event_judgment":
        # arrival: everyone waits until the window ends, each with a waiting item the events
        # handler finds them by ("yes" the moment the event comes); release: whoever is still
        # waiting did not do it
        if not released:
            within = expressions.parse_duration(config.get("within")) or timedelta(0)
            waiting = _park(cohort, now, lambda _user: now + within)
            waiting.action = "await_event"
            return waiting
        return Plan(moves={"no": [u for u in users if u in facts.still_waiting]})
    return Plan(moves={None: list(users)})


def pace(count: int, per_second: int | None) -> list[int]:
    """Seconds of delay for each successive batch of 100 sends at ``per_second``."""
    if not per_second:
        return [0] * math.ceil(count / 100)
    return [int(i * 100 / per_second) for i in range(math.ceil(count / 100))]
