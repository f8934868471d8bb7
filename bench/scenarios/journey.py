"""`journey`: user-steps through issue 17's journey on the local stack (unit: one user-step).

The journey: audience trigger -> A/B split (a 50 % / b 50 %) -> SMS (template A or B) ->
wait 1 day -> result judgment (was the SMS sent? judged an hour after the wait) ->
yes: SMS -> End; no: End. A user-step is one user passing one node (6 or 7 per user).

Setup, not measured: N profiles with phones and an audience snapshot of them written
straight into the tables; a sandbox SMS account that fails 10 % of messages (a fixed hash
of each message's key, so the judgment's two branches are both taken and their counts are
known), two approved templates, the journey created and its graph put over HTTP.
Measured: ``POST /v1/journeys/{id}/publish``, the queues drained, the clock moved a day and
two minutes (in two parts, draining after each), then an hour and two minutes, drained. Checked from
``GET /v1/journeys/{id}/stats``: everyone entered and ended, nobody waits, and every node's
counts agree (the judgment's yes = the first SMS's sent, no = its failed).

The sandbox's delivery receipts are held back (``Bench.hold_receipts``):
they cost the same per message whatever runs the journey, are measured by the ``receipts``
scenario, and would otherwise land in the day the clock moves.

``--baseline naive``: the same number of user-steps the naive way (bench/scenarios/naive.py).
"""
from __future__ import annotations

from typing import Any

from bench.harness import seed_profiles
from bench.scenarios import naive, scenario
from bench.scenarios.task import sandbox_and_template, write_audience

FAILURE_RATE = 0.1
JUDGE_AFTER_SECONDS = 3600  # over runtime.SHORT_WAIT_SECONDS: parked through the due-work index
NODES = ("t", "split", "sa|sb", "w", "r", "s2", "done|lost")


def graph(audience_id: str, template_a: str, template_b: str) -> dict[str, Any]:
    def sms(template: str) -> dict[str, str]:
        return {"provider": "sbx", "template_id": template}
    return {"nodes": [
        {"id": "t", "type": "trigger_audience", "config": {"audience_id": audience_id}},
        {"id": "split", "type": "random_split", "config": {"groups": [{"id": "a", "percent": 50},
                                                                     {"id": "b", "percent": 50}]}},
        {"id": "sa", "type": "sms", "config": sms(template_a)},
        {"id": "sb", "type": "sms", "config": sms(template_b)},
        {"id": "w", "type": "wait", "config": {"duration": "P1D"}},
        {"id": "r", "type": "result_judgment", "config": {"statuses": ["sent", "delivered"],
                                                         "after": f"PT{JUDGE_AFTER_SECONDS // 3600}H"}},
        {"id": "s2", "type": "sms", "config": sms(template_a)},
        {"id": "done", "type": "end", "config": {}}, {"id": "lost", "type": "end", "config": {}}],
        "edges": [{"from": "t", "to": "split"}, {"from": "split", "to": "sa", "branch": "a"},
                  {"from": "split", "to": "sb", "branch": "b"}, {"from": "sa", "to": "w"}, {"from": "sb", "to": "w"},
                  {"from": "w", "to": "r"}, {"from": "r", "to": "s2", "branch": "yes"},
                  {"from": "r", "to": "lost", "branch": "no"}, {"from": "s2", "to": "done"}]}


def check(stats: dict[str, Any], users: int) -> dict[str, int]:
    """Every count of the run agrees; returns the user-steps and the branch counts."""
    n = {node["node_id"]: node for node in stats["nodes"]}
    assert all(node["waiting"] == 0 and node["failed"] == 0 for node in n.values()), stats
    assert n["t"]["entered"] == users, n["t"]
    split = n["split"]["passed"]
    assert split.get("a", 0) + split.get("b", 0) == users and n["sa"]["entered"] == split.get("a", 0) \
        and n["sb"]["entered"] == split.get("b", 0), (split, n["sa"], n["sb"])
    first = {k: n["sa"]["sends"][k] + n["sb"]["sends"][k] for k in ("sent", "failed")}
    assert first["sent"] + first["failed"] == users, first
    assert n["w"]["entered"] == users and n["w"]["passed"] == {"next": users}, n["w"]
    judged = n["r"]["passed"]
    yes, no = judged.get("yes", 0), judged.get("no", 0)
    assert (yes, no) == (first["sent"], first["failed"]), (judged, first)
    assert n["s2"]["entered"] == yes and n["s2"]["sends"]["sent"] + n["s2"]["sends"]["failed"] == yes, n["s2"]
    assert (n["done"]["ended"], n["lost"]["ended"]) == (yes, no), (n["done"], n["lost"])
    steps = sum(node["entered"] for node in n.values())
    assert steps == 6 * users + yes, steps
    return {"user_steps": steps, "yes": yes, "no": no,
            "messages": users + yes, "messages_sent": first["sent"] + n["s2"]["sends"]["sent"]}


@scenario("journey", unit="user-step", default_size=10_000, tiny_size=30, baselines=("naive",))
def run(bench: Any, size: int, seed: int, progress: Any, baseline: str | None = None) -> dict[str, Any]:
    bench.hold_receipts()
    workspace_id, key = bench.workspace("bench-journey")
    users = seed_profiles(workspace_id, size, progress, "journey")
    audience_id = write_audience(workspace_id, users)
    template_a, template_b = sandbox_and_template(bench, key, failure_rate=FAILURE_RATE, templates=2)
    journey = bench.call("POST", "/v1/journeys", key, {"name": "bench journey"})
    jid = journey["id"]
    bench.call("PUT", f"/v1/journeys/{jid}/graph", key,
               {**graph(audience_id, template_a, template_b), "revision": journey["revision"]})
    bar = progress.add_task("journey: steps", total=4)
    with bench.measure() as measured:
        published = bench.call("POST", f"/v1/journeys/{jid}/publish", key)
        assert published["status"] == "running", published
        bench.drain(timeout=1800)
        progress.advance(bar)
        # A day and two minutes, in two parts (a schedule run takes at most a day of due
        # minutes), landing past the wait's due minute: a cohort released before it is due
        # would go back on the queue with an SQS delay, which runs on the wall clock.
        bench.advance_by(12 * 3600)
        bench.advance_by(12 * 3600 + 120, part=12 * 3600 + 120)
        progress.advance(bar)
        bench.advance_by(JUDGE_AFTER_SECONDS + 120, part=JUDGE_AFTER_SECONDS + 120)  # the judgment's hour
        progress.advance(bar)
        bench.drain(timeout=1800)
        progress.advance(bar)
    counted = check(bench.call("GET", f"/v1/journeys/{jid}/stats", key), size)
    result = dict(measured.summary(counted["user_steps"])) | {"users": size, **counted}
    if baseline == "naive":
        from chalicelib.config import settings

        walk = [(user, node) for user in users for node in NODES][:counted["user_steps"]]
        walked = naive.run(bench, walk, settings.table("journeys"), workspace_id, progress, "journey")
        result |= naive.compare(result, walked)
    return result
