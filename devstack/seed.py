"""The demo workspace: a few dozen profiles with tags and a week of events."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from chalicelib import clock, ids
from chalicelib.events import ingest
from chalicelib.events.messages import QueuedEvent
from chalicelib.profiles import profiles, tags
from chalicelib.profiles.schemas import ProfileUpsert, TagsChange
from chalicelib.tenancy import workspaces
from chalicelib.tenancy.schemas import WorkspaceCreate, WorkspaceCreated

CITIES = ["Hangzhou", "Shanghai", "Beijing", "Shenzhen", "Singapore", "Seattle"]
EVENTS = ["app_open", "view_item", "add_to_cart", "purchase"]


def seed_demo(now: datetime, users: int = 40, seed: int = 7) -> WorkspaceCreated:
    rng = random.Random(seed)
    created = workspaces.create(WorkspaceCreate(name="Demo", timezone="Asia/Shanghai"), now)
    ws = created.workspace.id
    changes = []
    for n in range(users):
        user_id = f"user-{n:03d}"
        changes.append((user_id, ProfileUpsert(
            attributes={"city": rng.choice(CITIES), "age": rng.randint(18, 70), "vip": n % 7 == 0},
            email=f"{user_id}@example.com", phone=f"+8613800{n:06d}",
        )))
    profiles.upsert_many(ws, changes, now)
    for user_id, _ in changes[::5]:
        tags.change(ws, user_id, TagsChange(add=["newsletter"]), now)
    events: list[QueuedEvent] = []
    for user_id, _ in changes:
        for _ in range(rng.randint(1, 8)):
            name = rng.choice(EVENTS)
            moment = now - timedelta(minutes=rng.randint(1, 7 * 24 * 60))
            props = {"amount": round(rng.uniform(5, 300), 2), "currency": "CNY"} if name == "purchase" else {}
            events.append(QueuedEvent(user_id=user_id, event_id=ids.new_id("ev"), name=name,
                                      ts=clock.iso(moment), properties=props))
    ingest.enqueue_events(ws, events, now)
    return created
