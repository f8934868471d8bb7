"""The demo workspace: a few dozen profiles with tags and a week of events, sandbox
providers for SMS and email, and an approved welcome template."""
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
    _channel_setup(ws, now)
    return created


def _channel_setup(ws: str, now: datetime) -> None:
    """Sandbox providers (they record messages; no cloud account needed) and an approved
    SMS template, so the channel setup is there to look at and send with."""
    from chalicelib.sending import content, provider_service, template_service
    from chalicelib.sending.providers_config import ProviderPut

    for channel in ("sms", "email"):
        provider_service.put(ws, f"sandbox-{channel}", ProviderPut(
            channel=channel, kind="sandbox", settings={"failure_rate": 0.02, "open_rate": 0.4, "click_rate": 0.1,
                                                       "receipt_delay_seconds": 5},
            rate_limit=100, cost_per_message=0.005), now)
    welcome = template_service.create(ws, content.parse({
        "channel": "sms", "name": "welcome", "provider": "sandbox-sms",
        "body": "Hi {{ profile.attributes.city | default: 'there' }}, welcome to the demo shop! {{ offer }}",
        "variables": {"offer": "10% off your first order"},
    }), now)
    template_service.approve(ws, welcome.id, None, now)
