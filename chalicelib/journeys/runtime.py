"""The step runner: moves cohorts of users through a published journey version.

A ``step`` message names a cohort. The runner reads the cohort and its step marker in one
BatchGetItem; a cohort already stepped is done (a redelivery). Otherwise it reads the facts
the node needs in batches, asks ``semantics.plan`` what happens, and carries the plan out
in an order that makes every retry safe:

1. the next cohorts (one per branch taken, one per due minute for parked users) are put
   under ids derived from (cohort, node, branch) with conditional puts: a second delivery
   writes nothing new;
2. side effects: sends are queued with deterministic message keys (journey, node, entry,
   user: the sender claims each once), tags are set-additions, pushes carry the cohort id
   as their idempotency key;
3. the next cohorts' step messages are queued (or parked in the due-work index);
4. the step marker and the node's counts are written in one transaction conditioned on the
   marker not existing: the counts are added exactly once.

An ``enter`` message enters one page of an audience snapshot as a root cohort and queues
the next page's ``enter``: a million users enter in a thousand messages, never a scan.
"""
from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from chalicelib import aws, clock, dynamo, logs
from chalicelib.audiences import repo as audiences_repo
from chalicelib.config import settings
from chalicelib.journeys import cohorts, entry_rules, generated, goals, graph, repo, runtime_repo, semantics, waiters
from chalicelib.journeys.cohorts import Cohort
from chalicelib.journeys.gathering import GatherMessage
from chalicelib.journeys.graph import Graph, Node
from chalicelib.profiles import repo as profiles_repo
from chalicelib.scheduling import dispatch
from chalicelib.scheduling.repo import Due
from chalicelib.sending import queue as sends_queue
from chalicelib.sending import repo_messages
from chalicelib.sending.messages import MessageKey

DUE_KIND = "journey_cohort"
WEBHOOK_TIMEOUT_SECONDS = 10.0
SHORT_WAIT_SECONDS = 900  # parked cohorts due within this go back on the queue with a delay


class StepMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["step"] = "step"
    workspace_id: str = Field(min_length=1)
    journey_id: str = Field(min_length=1)
    cohort_id: str = Field(min_length=1)


class EnterMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["enter"] = "enter"
    workspace_id: str = Field(min_length=1)
    journey_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    run_id: str = Field(min_length=1)
    snapshot_id: str = Field(min_length=1)
    page: str | None = Field(None, description="the members page to enter (its sort key); None: the first")
    entered_at: str


StepsMessage = Annotated[Union[StepMessage, EnterMessage, GatherMessage], Field(discriminator="type")]
STEPS_MESSAGE: TypeAdapter[StepMessage | EnterMessage | GatherMessage] = TypeAdapter(StepsMessage)


def enqueue(messages: Sequence[BaseModel], delays: Sequence[int] | None = None) -> None:
    """Put step or enter messages on the steps queue (10 a call), each with its delay."""
    url = aws.queue_url(settings.queue("steps"))
    for start in range(0, len(messages), 10):
        entries = []
        for i, message in enumerate(messages[start:start + 10]):
            entry: dict[str, Any] = {"Id": str(i), "MessageBody": json.dumps(message.model_dump(mode="json"))}
            delay = delays[start + i] if delays else 0
            if delay > 0:
                entry["DelaySeconds"] = min(SHORT_WAIT_SECONDS, delay)
            entries.append(entry)
        answer = aws.sqs().send_message_batch(QueueUrl=url, Entries=entries)
        if answer.get("Failed"):
            raise RuntimeError(f"the steps queue refused {len(answer['Failed'])} message(s)")


@lru_cache(maxsize=256)
def version_graph(workspace_id: str, journey_id: str, version: int) -> tuple[Graph, dict[str, Any]] | None:
    """A published version: immutable, so kept for the life of the process."""
    return repo.get_version(workspace_id, journey_id, version)


def workspace_timezone(workspace_id: str) -> str:
    from chalicelib.tenancy import repo as tenancy_repo

    found = tenancy_repo.get_workspace(workspace_id)
    return found.timezone if found else "UTC"


# --- entering -------------------------------------------------------------------------------

def trigger_of(g: Graph) -> Node | None:
    return next((n for n in g.nodes if graph.is_trigger(n)), None)


def _root(workspace_id: str, journey_id: str, version: int, run_id: str, page: str, users: list[str],
          trigger: str, entered_at: str, per_user: dict[str, dict[str, Any]] | None = None) -> Cohort:
    return Cohort(workspace_id=workspace_id, journey_id=journey_id, version=version,
                  cohort_id=cohorts.root_id(journey_id, version, run_id, page), node_id=trigger,
                  users=tuple(sorted(set(users))), entry_id=run_id, entered_at=entered_at, run_id=run_id,
                  per_user=per_user or {})


def enter_page(message: EnterMessage, now: datetime) -> int:
    """Enter one members page of a snapshot as a root cohort; queue the next page. Returns
    how many users the page held."""
    found = version_graph(message.workspace_id, message.journey_id, message.version)
    trigger = trigger_of(found[0]) if found else None
    if trigger is None:
        return 0
    pages = audiences_repo.pages_from(message.workspace_id, message.snapshot_id, message.page)
    first = next(pages, None)
    if first is None:
        return 0
    following = next(pages, None)
    sk, users = first
    cohort = _root(message.workspace_id, message.journey_id, message.version, message.run_id, sk, users,
                   trigger.id, message.entered_at)
    admit_root(cohort, found[1] if found else {}, trigger, now)
    out: list[BaseModel] = [StepMessage(workspace_id=cohort.workspace_id, journey_id=cohort.journey_id,
                                        cohort_id=cohort.cohort_id)]
    if following is not None:
        out.append(message.model_copy(update={"page": following[0]}))
    enqueue(out)
    return len(users)


def enter(workspace_id: str, journey_id: str, users: Sequence[str] | str, run_id: str, now: datetime,
          *, version: int | None = None, props: dict[str, dict[str, Any]] | None = None,
          entries: dict[str, str] | None = None) -> int:
    """Enter users into a running journey (a manual trigger; chat campaigns call this): a
    list of user ids, or an audience snapshot id (entered page by page). ``run_id`` names
    this entry: entering the same run again enters nobody twice. Returns the users entered
    now (0 for a snapshot, entered asynchronously), raises LookupError when the journey is
    not running."""
    record = repo.get(workspace_id, journey_id)
    if record is None or record.status != "running" or record.published_version is None:
        raise LookupError("the journey is not running")
    version = version or record.published_version
    found = version_graph(workspace_id, journey_id, version)
    trigger = trigger_of(found[0]) if found else None
    if trigger is None:
        raise LookupError("the journey has no trigger")
    at = clock.iso(now)
    if isinstance(users, str):
        snapshot = users
        if not runtime_repo.put_run(workspace_id, journey_id, run_id, {"snapshot": users, "at": at,
                                                                       "version": str(version)}):
            # the run began before (a schedule that fired twice): enter the snapshot it named,
            # again (nobody twice), not the audience's newer one
            found_run = runtime_repo.get_run(workspace_id, journey_id, run_id) or {}
            snapshot, at = found_run.get("snapshot", users), found_run.get("at", at)
            version = int(found_run.get("version", version))
        enqueue([EnterMessage(workspace_id=workspace_id, journey_id=journey_id, version=version, run_id=run_id,
                              snapshot_id=snapshot, entered_at=at)])
        return 0
    pages = cohorts.pages(list(users))
    runtime_repo.put_run(workspace_id, journey_id, run_id, {"at": at, "version": str(version),
                                                            "pages": "\n".join(p[0] for p in pages)})
    roots = []
    for page in pages:
        per_user: dict[str, dict[str, Any]] = {}
        for u in page:
            if props and props.get(u):
                per_user.setdefault(u, {})["props"] = props[u]
            if entries and entries.get(u):
                per_user.setdefault(u, {})["entry"] = entries[u]
        cohort = _root(workspace_id, journey_id, version, run_id, page[0], page, trigger.id, at, per_user)
        admit_root(cohort, found[1] if found else {}, trigger, now)
        roots.append(StepMessage(workspace_id=workspace_id, journey_id=journey_id, cohort_id=cohort.cohort_id))
    enqueue(roots)
    return sum(len(p) for p in pages)


def admit_root(cohort: Cohort, version_settings: dict[str, Any], trigger: Node, now: datetime) -> str:
    """Write a root cohort holding only the users the entry rules and caps let in, with the
    entry outcomes counted once: "written", or "exists" when an earlier delivery wrote it."""
    rules = version_settings.get("entry") or {}
    markers_needed = entry_rules.needs_markers(version_settings, trigger.type, bool(trigger.config.get("schedule")))
    run_id = cohort.run_id or cohort.entry_id
    for attempt in range(6):
        users = list(cohort.users)
        markers = runtime_repo.read_markers(cohort.workspace_id, cohort.journey_id, users) if markers_needed else {}
        own = {u: str(v["entry"]) for u, v in cohort.per_user.items() if v.get("entry")}
        admission = entry_rules.admit(version_settings, users, markers, run_id, now, own) if markers_needed \
            else entry_rules.Admission(admitted=users)
        caps = None
        if rules.get("daily_cap") or rules.get("total_cap"):
            day = now.strftime("%Y-%m-%d")
            day_count, total_count = runtime_repo.read_entry_counts(cohort.workspace_id, cohort.journey_id, day)
            room = entry_rules.room(version_settings, day_count, total_count)
            if room is not None and room < len(admission.admitted):
                admission.refused["refused_cap"] = admission.admitted[room:]
                admission.admitted = admission.admitted[:room]
            caps = (day, day_count, total_count)
        if markers_needed:
            runtime_repo.write_markers(cohort.workspace_id, cohort.journey_id, admission.admitted, markers, run_id,
                                       clock.iso(now), {u: cohort.entry_of(u) for u in admission.admitted})
        kept = set(admission.admitted)
        root = replace(cohort, users=tuple(u for u in cohort.users if u in kept),
                       per_user={u: v for u, v in cohort.per_user.items() if u in kept})
        outcome = runtime_repo.enter_root(root, admission.counts(), caps, int(now.timestamp()))
        if outcome != "raced":
            return outcome
        dynamo.backoff(attempt)
    raise RuntimeError("the journey's entry caps kept changing; the page is retried")


# --- stepping -------------------------------------------------------------------------------

@dataclass
class Outcome:
    result: str
    children: list[Cohort]
    counts: dict[str, dict[str, int]]


def _facts(node: Node, cohort: Cohort, released: bool) -> semantics.Facts:
    wanted = semantics.needs(node, released)
    facts = semantics.Facts(workspace_timezone=workspace_timezone(cohort.workspace_id))
    users = list(cohort.users)
    if "tags" in wanted or "attributes" in wanted:
        found = profiles_repo.read_profiles(cohort.workspace_id, users)
        facts.tags = {u: p.tags for u, p in found.items()}
        facts.attributes = {u: dict(p.attributes) for u, p in found.items()}
    if "members" in wanted:
        for audience_id in node.config.get("audiences") or ():
            audience = audiences_repo.get_audience(cohort.workspace_id, str(audience_id))
            snapshot = audience.current_snapshot if audience else None
            facts.members[str(audience_id)] = (audiences_repo.members_in(cohort.workspace_id, snapshot, users)
                                               if snapshot else set())
    if "still_waiting" in wanted:
        facts.still_waiting = waiters.claim_remaining(cohort)
    if "statuses" in wanted and cohort.touch:
        keys = {MessageKey(cohort.workspace_id, u, journey_id=cohort.journey_id, node_id=cohort.touch,
                           entry_id=cohort.entry_of(u)): u for u in users}
        for key, record in repo_messages.read(list(keys)).items():
            facts.statuses[keys[key]] = {record.status, *(h.status for h in record.history)}
    return facts


def _sends(node: Node, cohort: Cohort, users: list[str], settings_: dict[str, Any], now: datetime) -> None:
    """Touches and Kafka pushes go through the send pipeline: messages of up to 100
    recipients whose keys (journey, node, entry, user) the sender claims once each."""
    kafka = node.type == "kafka"
    by_entry: dict[str, list[str]] = defaultdict(list)
    for user in users:
        by_entry[cohort.entry_of(user)].append(user)
    batches: list[tuple[str, list[str]]] = [(entry, group[i:i + sends_queue.MAX_RECIPIENTS])
                                            for entry, group in sorted(by_entry.items())
                                            for i in range(0, len(group), sends_queue.MAX_RECIPIENTS)]
    delays = semantics.pace(len(users), settings_.get("messages_per_second"))
    messages = []
    for i, (entry, group) in enumerate(batches):
        delay = delays[i] if i < len(delays) else 0
        recipients = [sends_queue.Recipient(user_id=u, content={
            "topic": node.config.get("topic"), "journey_id": cohort.journey_id, "node_id": node.id, "user_id": u,
            "entry_id": entry, "entered_at": cohort.entered_at_of(u), "properties": cohort.props_of(u)}) if kafka
            else sends_queue.Recipient(user_id=u) for u in group]
        messages.append(sends_queue.SendMessage(
            workspace_id=cohort.workspace_id, channel="webhook" if kafka else node.type,
            provider=sends_queue.ProviderRef(name=str(node.config.get("provider"))),
            template_id=None if kafka else node.config.get("template_id"), journey_id=cohort.journey_id,
            node_id=node.id, entry_id=entry, recipients=recipients,
            not_before=now + timedelta(seconds=delay) if delay else None,
            campaign_id=(settings_.get("campaign_ids") or [None])[0],
        ))
    sends_queue.enqueue(messages, now)


def _tags(node: Node, cohort: Cohort, users: list[str], now: datetime) -> None:
    add, remove = set(node.config.get("add") or ()), set(node.config.get("remove") or ())
    stamp = clock.iso(now)

    def one(user: str) -> None:
        if add:
            profiles_repo.add_tags(cohort.workspace_id, user, add, stamp, max_tags=200)
        if remove:
            profiles_repo.remove_tags(cohort.workspace_id, user, remove, stamp)

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, users))


def _webhook(node: Node, cohort: Cohort, users: list[str], now: datetime) -> None:
    """One signed POST of the cohort's users, as the webhook provider signs (``X-MA-Timestamp``,
    ``X-MA-Signature``) with ``Idempotency-Key: <cohort>.<node>`` (the same on a retried
    step); no redirects. A failure raises: the step is retried by the queue."""
    from chalicelib.providers import signing
    from chalicelib.providers import webhook as webhook_provider

    body = json.dumps({"journey_id": cohort.journey_id, "node_id": node.id, "cohort_id": cohort.cohort_id,
                       "users": [{"user_id": u, "entry_id": cohort.entry_of(u)} for u in users]},
                      separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": f"{cohort.cohort_id}.{node.id}"}
    secret = node.config.get("secret")
    if secret:
        stamp = str(int(now.timestamp()))
        headers["X-MA-Timestamp"] = stamp
        headers["X-MA-Signature"] = signing.sign(secret, stamp, body)
    answer = webhook_provider.client().post(str(node.config["url"]), content=body, headers=headers,
                                            timeout=WEBHOOK_TIMEOUT_SECONDS)
    if not 200 <= answer.status_code < 300:
        raise RuntimeError(f"the webhook answered {answer.status_code}")


def _act(node: Node, cohort: Cohort, plan: semantics.Plan, version_settings: dict[str, Any], now: datetime) -> None:
    movers = [u for users in plan.moves.values() for u in users]
    if plan.sends:
        _sends(node, cohort, plan.sends, version_settings, now)
    if plan.action == "tag":
        _tags(node, cohort, movers, now)
    elif plan.action == "webhook":
        _webhook(node, cohort, movers, now)
    elif plan.action == "generate_audience":
        generated.collect(cohort, node.id, movers, now)


def decide(cohort: Cohort, g: Graph, version_settings: dict[str, Any], now: datetime) -> tuple[semantics.Plan, Outcome]:
    """Read the node's facts, plan, and name the next cohorts and counts (no writes)."""
    node = g.node(cohort.node_id)
    if node is None:
        return semantics.Plan(), Outcome("failed", [], {cohort.node_id: {"failed": len(cohort.users)}})
    released = cohort.parked()
    plan = semantics.plan(node, cohort, _facts(node, cohort, released), now, released=released)
    counts: dict[str, int] = defaultdict(int)
    if released:  # an event judgment's "yes" users left (and were counted) one by one
        counts["waiting"] -= len(plan.moves.get("no", [])) if node.type == "event_judgment" else len(cohort.users)
    else:
        counts["entered"] += len(cohort.users)
    is_touch = node.type in graph.TOUCHES or node.type in ("webhook", "kafka")
    children = []
    for branch, users in sorted(plan.moves.items(), key=lambda kv: kv[0] or ""):
        label = branch or cohorts.NEXT
        counts[f"passed:{label}"] += len(users)
        edge = g.edge_on(node.id, branch)
        if edge is None:  # a branch without a next node (only in a graph validation let through)
            counts["exited"] += len(users)
            continue
        children.append(cohorts.child(cohort, node.id, branch, users, to_node=edge.target,
                                      touch=node.id if is_touch else None))
    for due, users in sorted(plan.parks.items()):
        counts["waiting"] += len(users)
        children.append(cohorts.child(cohort, node.id, f"due:{due}", users, to_node=node.id, due_at=due))
    if plan.ended:
        counts["ended"] += len(plan.ended)
    return plan, Outcome("stepped", children, {node.id: dict(counts)})


def dispatch_children(children: Sequence[Cohort], now: datetime) -> None:
    """Queue the next cohorts' steps: now, after an SQS delay, or via the due-work index."""
    soon: list[StepMessage] = []
    delays: list[int] = []
    for child in children:
        message = StepMessage(workspace_id=child.workspace_id, journey_id=child.journey_id, cohort_id=child.cohort_id)
        wait = 0
        if child.due_at is not None:
            wait = math.ceil((clock.parse_iso(child.due_at) - now).total_seconds())
        if wait > SHORT_WAIT_SECONDS:
            dispatch.schedule(DUE_KIND, child.workspace_id, f"{child.journey_id}.{child.cohort_id}",
                              clock.parse_iso(child.due_at or ""), now)
            continue
        soon.append(message)
        delays.append(max(0, wait))
    if soon:
        enqueue(soon, delays)


def _leave_out_goal_exits(cohort: Cohort, g: Graph, journey_settings: dict[str, Any]) -> tuple[Cohort, dict[str, int]]:
    """A journey whose goal exits users: the cohort without the users a goal removed, and
    their counts at this node. Nothing is read for a journey without such a goal, nor for a
    cohort parked at an event judgment (the goal claimed and counted its users at once)."""
    if not goals.exit_goal(journey_settings):
        return cohort, {}
    node = g.node(cohort.node_id)
    if node is not None and node.type == "event_judgment" and cohort.parked():
        return cohort, {}
    gone = goals.exited(cohort)
    if not gone:
        return cohort, {}
    counts = {"exited": len(gone), "exited_goal": len(gone), **({"waiting": -len(gone)} if cohort.parked() else {})}
    return goals.without(cohort, gone), counts


def step(message: StepMessage, now: datetime) -> str:
    """Run one cohort's step; returns what happened (for logs and tests)."""
    cohort, marker = runtime_repo.read_step(message.workspace_id, message.journey_id, message.cohort_id)
    if cohort is None:
        logs.logger.error("a step names no cohort", extra={"journey_id": message.journey_id,
                                                           "cohort_id": message.cohort_id})
        return "missing"
    if marker is not None:
        return "done"
    record = repo.get(cohort.workspace_id, cohort.journey_id)
    status = record.status if record else "ended"
    epoch = int(now.timestamp())
    if status == "paused":
        runtime_repo.hold(cohort.workspace_id, cohort.journey_id, cohort.cohort_id)
        again = repo.get(cohort.workspace_id, cohort.journey_id)
        if again is not None and again.status != "paused":  # resumed or stopped while holding: resume
            enqueue([message])                               # read the held list before this hold
        return "held"
    if status != "running":
        counts = {"exited": len(cohort.users), **({"waiting": -len(cohort.users)} if cohort.parked() else {})}
        runtime_repo.finish_step(cohort, [], "exited", clock.iso(now), epoch, {cohort.node_id: counts})
        return "exited"
    if cohort.due_at is not None and clock.parse_iso(cohort.due_at) > now:
        dispatch_children([cohort], now)  # delivered early (a delay cut at 15 minutes): park again
        return "early"
    found = version_graph(cohort.workspace_id, cohort.journey_id, cohort.version)
    if found is None:
        runtime_repo.finish_step(cohort, [], "failed", clock.iso(now), epoch,
                                 {cohort.node_id: {"failed": len(cohort.users)}})
        return "failed"
    g, version_settings = found
    cohort, gone = _leave_out_goal_exits(cohort, g, record.settings if record else {})
    if not cohort.users:
        runtime_repo.finish_step(cohort, [], "exited", clock.iso(now), epoch, {cohort.node_id: gone})
        return "exited"
    plan, outcome = decide(cohort, g, version_settings, now)
    if gone:
        counts = outcome.counts.setdefault(cohort.node_id, {})
        for name, delta in gone.items():
            counts[name] = counts.get(name, 0) + delta
    for child in outcome.children:
        runtime_repo.put_cohort(child, epoch)
    node = g.node(cohort.node_id)
    if node is not None and plan.action == "await_event":
        yes = g.edge_on(node.id, "yes")
        for child in outcome.children:
            if child.due_at is not None:
                waiters.put_waiters(child, node.config, yes.target if yes else None)
    if node is not None:
        _act(node, cohort, plan, {**version_settings, **(record.settings if record else {})}, now)
    if plan.ended and (version_settings.get("entry") or {}).get("reentry") == "once_at_a_time":
        runtime_repo.clear_active(cohort.workspace_id, cohort.journey_id, plan.ended)
    dispatch_children(outcome.children, now)
    runtime_repo.finish_step(cohort, [c.cohort_id for c in outcome.children], outcome.result, clock.iso(now), epoch,
                             outcome.counts)
    return outcome.result


@dispatch.on_due(DUE_KIND)
def _due(due: Due, now: datetime) -> None:
    """A parked cohort is due: queue its step (the runner releases it)."""
    journey_id, cohort_id = due.item_id.split(".", 1)
    enqueue([StepMessage(workspace_id=due.workspace_id, journey_id=journey_id, cohort_id=cohort_id)])
