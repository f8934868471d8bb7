"""`events`: events from HTTP to stored event and updated aggregate (unit: one event)."""
from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

from bench.scenarios import scenario

BATCH = 500
NAMES = [("page_view", 0.5), ("add_to_cart", 0.25), ("purchase", 0.15), ("signup", 0.10)]


def workload(n: int, users: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    now = datetime.now(timezone.utc)
    names, weights = zip(*NAMES)
    events = []
    for i in range(n):
        name = rng.choices(names, weights)[0]
        properties: dict[str, Any] = {"source": rng.choice(["web", "ios", "android"])}
        if name == "purchase":
            properties["amount"] = round(rng.uniform(5, 500), 2)
        events.append({"user_id": f"user-{rng.randrange(users):06d}", "name": name, "event_id": f"bench-{i:08d}",
                       "timestamp": (now - timedelta(seconds=rng.randrange(7 * 86400))).isoformat(timespec="milliseconds"),
                       "properties": properties})
    return events


@scenario("events", unit="event", default_size=10_000, tiny_size=300)
def run(bench: Any, size: int, seed: int, progress: Any) -> dict[str, Any]:
    workspace_id, key = bench.workspace("bench-events")
    users = max(10, size // 5)
    events = workload(size, users, seed)
    batches = [events[i:i + BATCH] for i in range(0, len(events), BATCH)]
    task = progress.add_task("events: POST", total=len(batches))
    with bench.measure() as measured:
        with ThreadPoolExecutor(max_workers=4, thread_name_prefix="bench-post") as pool:
            for _ in pool.map(lambda b: bench.call("POST", "/v1/events", key, {"events": b}), batches):
                progress.advance(task)
        bench.drain()
    # Every event counted once in its user's aggregate (checked outside the measurement).
    expected: dict[str, int] = {}
    for e in events:
        expected[e["user_id"]] = expected.get(e["user_id"], 0) + 1
    sample = sorted(expected)[:: max(1, len(expected) // 50)]
    for user in sample:
        profile = bench.call("GET", f"/v1/profiles/{user}", key)
        got = sum(stat["count"] for stat in profile["event_stats"].values())
        assert got == expected[user], (user, got, expected[user])
    return measured.summary(size) | {"users": users, "events_per_post": BATCH}
