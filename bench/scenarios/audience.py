"""`audience`: a rule audience built over N profiles (unit: one profile scanned).

The profiles are written straight into the table (setup, not measured); the build is
started with ``POST /v1/audiences`` and measured until the snapshot is ready.
"""
from __future__ import annotations

import random
import time
from typing import Any

from bench.scenarios import scenario

CITIES = ["Hangzhou", "Shanghai", "Beijing"]


def seed_profiles(workspace_id: str, n: int, seed: int, progress: Any) -> int:
    from chalicelib import dynamo
    from chalicelib.config import settings
    from chalicelib.profiles.repo import ProfileRecord, profile_item

    rng = random.Random(seed)
    task = progress.add_task("audience: seed profiles", total=n)
    matching, chunk = 0, []
    for i in range(n):
        city = CITIES[i % 3]
        matching += city == "Hangzhou"
        user_id = f"user-{i:08d}"
        record = ProfileRecord(
            workspace_id=workspace_id, user_id=user_id,
            attributes={"city": city, "age": rng.randint(18, 80), "plan": rng.choice(["free", "pro", "team"])},
            channels={"email": f"{user_id}@example.com"},
            tags=frozenset(rng.sample(["vip", "newsletter", "beta"], k=rng.randint(0, 2))),
            created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z", version=1)
        chunk.append(profile_item(record).serialize())
        if len(chunk) == 2_000 or i == n - 1:
            dynamo.batch_put(settings.table("profiles"), chunk)
            progress.advance(task, len(chunk))
            chunk = []
    return matching


@scenario("audience", unit="profile scanned", default_size=100_000, tiny_size=500)
def run(bench: Any, size: int, seed: int, progress: Any) -> dict[str, Any]:
    workspace_id, key = bench.workspace("bench-audience")
    matching = seed_profiles(workspace_id, size, seed, progress)
    source = {"type": "rules", "match": "all", "conditions": [{"attribute": "city", "op": "eq", "value": "Hangzhou"}]}
    with bench.measure() as measured:
        made = bench.call("POST", "/v1/audiences", key, {"name": "Hangzhou", "visibility": "public", "source": source})
        deadline = time.monotonic() + 1800
        while True:
            audience = bench.call("GET", f"/v1/audiences/{made['id']}", key)
            if audience["status"] != "building" or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert audience["status"] == "ready" and audience["size"] == matching, audience
    summary = measured.summary(size)
    wru_total = summary["wru_per_unit"] * size
    return summary | {"members": matching, "wru_per_member": round(wru_total / max(1, matching), 5)}
