"""What a journey did: per-node stats and one user's path, from what the runtime stores anyway.

Stats: the node counters the runner adds once per cohort step (``runtime_repo``), summed
over their shards (one Query for the whole journey), and per touch the send counters the
sender keeps (one Query per touch node).

A user's path costs no write per user per step: each run (``run#`` items: one Query)
gives the user's root cohort (an audience run: the members page holding the user, one
Query; a manual run: the cohort of the page the user sorts into), and the cohorts'
lineage does the rest: a cohort's step marker lists the cohorts it made, and the user is
in exactly one of them. One lookup reads, per node passed, one BatchGetItem of the next
cohorts and their markers (a few KB each), and at the end the user's message records.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Any

from chalicelib.audiences import repo as audiences_repo
from chalicelib.counters import repo as counters_repo
from chalicelib.errors import NotFound
from chalicelib.journeys import cohorts, entry_rules, goals, graph, repo, runtime, runtime_repo
from chalicelib.sending import repo_messages
from chalicelib.sending.messages import MessageKey

MAX_STEPS = 200
SEND_FIELDS = ("targeted", "sent", "delivered", "failed", "opened", "clicked", "cost")


def _record(workspace_id: str, journey_id: str) -> repo.JourneyRecord:
    record = repo.get(workspace_id, journey_id)
    if record is None:
        raise NotFound(f"no journey '{journey_id}'")
    return record


def stats(workspace_id: str, journey_id: str) -> dict[str, Any]:
    record = _record(workspace_id, journey_id)
    counted = runtime_repo.read_stats(workspace_id, journey_id)
    found = runtime.version_graph(workspace_id, journey_id, record.published_version) \
        if record.published_version else None
    g = found[0] if found else graph.Graph()
    nodes = []
    for node in g.nodes:
        values = counted.get(node.id, {})
        passed = {k.split(":", 1)[1]: v for k, v in values.items() if k.startswith("passed:")}
        out: dict[str, Any] = {
            "node_id": node.id, "type": node.type, "entered": values.get("entered", 0),
            "waiting": values.get("waiting", 0), "passed": {("next" if b == cohorts.NEXT else b): n
                                                           for b, n in sorted(passed.items())},
            "failed": values.get("failed", 0), "exited": values.get("exited", 0), "ended": values.get("ended", 0),
            "exited_goal": values.get("exited_goal", 0),
        }
        if node.type in graph.TOUCHES:
            sent = counters_repo.read(workspace_id, f"journey#{journey_id}#node#{node.id}")
            out["sends"] = {k: (int(sent.get(k, 0)) if k != "cost" else sent.get(k, 0)) for k in SEND_FIELDS}
        nodes.append(out)
    trigger = runtime.trigger_of(g)
    entries = counted.get(trigger.id, {}) if trigger else {}
    out = {"journey_id": journey_id, "status": record.status, "version": record.published_version,
           "entries": {name: entries.get(f"entry:{name}", 0) for name in entry_rules.OUTCOMES},
           "nodes": nodes}
    goal = record.settings.get("goal")
    if goal or goals.GOAL_NODE in counted:
        out["goal"] = {"event": (goal or {}).get("event"), "conversions": counted.get(goals.GOAL_NODE, {}).get(
            "conversions", 0), "exited": sum(n["exited_goal"] for n in nodes)}
    return out


def _roots(workspace_id: str, journey_id: str, user_id: str) -> list[tuple[dict[str, str], str]]:
    """(run, root cohort id) of every run that may hold the user."""
    found = []
    for run in runtime_repo.runs(workspace_id, journey_id):
        run_id, version = run["sk"][len("run#"):], int(run.get("version", "1"))
        if run.get("snapshot"):
            page = audiences_repo.page_holding(workspace_id, run["snapshot"], user_id)
            if page is not None:
                found.append((run, cohorts.root_id(journey_id, version, run_id, page)))
        elif run.get("pages"):
            firsts = run["pages"].split("\n")
            at = bisect_right(firsts, user_id) - 1
            if at >= 0:
                found.append((run, cohorts.root_id(journey_id, version, run_id, firsts[at])))
    return found


def user_path(workspace_id: str, journey_id: str, user_id: str) -> dict[str, Any]:
    record = _record(workspace_id, journey_id)
    found = runtime.version_graph(workspace_id, journey_id, record.published_version) \
        if record.published_version else None
    g = found[0] if found else graph.Graph()
    entries = []
    for run, root in _roots(workspace_id, journey_id, user_id):
        steps: list[dict[str, Any]] = []
        touches: list[tuple[str, str]] = []
        entry_id: str | None = None
        pending = [root]
        while pending and len(steps) < MAX_STEPS:
            read = runtime_repo.read_cohorts(workspace_id, journey_id, pending)
            holding = [(c, m) for c, m in read.values() if user_id in c.users]
            if not holding:
                break
            cohort, marker = holding[0]
            entry_id = entry_id or cohort.entry_of(user_id)
            node = g.node(cohort.node_id)
            entry: dict[str, Any] = {"node_id": cohort.node_id, "type": node.type if node else None,
                                     "cohort_id": cohort.cohort_id}
            if cohort.due_at:
                entry["held_until"] = cohort.due_at
            # an event judgment lets a user out alone, the moment the event comes
            alone = [cohorts.child_id(cohort.cohort_id, cohort.node_id, f"yes:{user_id}")] \
                if node is not None and node.type == "event_judgment" and cohort.due_at else []
            children = runtime_repo.read_cohorts(workspace_id, journey_id, [*(marker.children if marker else ()),
                                                                            *alone])
            if marker is None and not any(user_id in c.users for c, _ in children.values()):
                entry["status"] = "waiting" if cohort.due_at else "arriving"
                steps.append(entry)
                break
            if marker is not None:
                entry["at"], entry["outcome"] = marker.at, marker.outcome
            if node is not None and node.type in graph.TOUCHES:
                touches.append((node.id, cohort.entry_of(user_id)))
            nxt = next((c for c, _ in children.values() if user_id in c.users), None)
            if nxt is not None and nxt.branch and nxt.branch.startswith("yes:"):
                entry["branch"] = "yes"
            elif nxt is not None and nxt.branch and not nxt.branch.startswith("due:"):
                entry["branch"] = nxt.branch
            elif nxt is not None and nxt.branch and nxt.branch.startswith("due:"):
                entry["branch"] = "held"
            steps.append(entry)
            pending = [nxt.cohort_id] if nxt is not None else []
        keys = [MessageKey(workspace_id, user_id, journey_id=journey_id, node_id=n, entry_id=e) for n, e in touches]
        messages = repo_messages.read(keys) if keys else {}
        conversion = goals.conversion_of(workspace_id, journey_id, user_id, entry_id) \
            if entry_id and record.settings.get("goal") else None
        if conversion and conversion.pop("exit") and steps and "branch" not in steps[-1] \
                and steps[-1].get("type") != "end" and steps[-1].get("outcome") is not None:
            steps[-1]["exited"] = "goal"  # the runner left the user out here
        entries.append({
            "run_id": run["sk"][len("run#"):], "entered_at": run.get("at"), "steps": steps,
            **({"conversion": conversion} if conversion else {}),
            "messages": [{"node_id": k.node_id, "status": m.status,
                          "history": [{"status": h.status, "at": h.at} for h in m.history]}
                         for k, m in messages.items()],
        })
    return {"journey_id": journey_id, "user_id": user_id, "entries": entries}
