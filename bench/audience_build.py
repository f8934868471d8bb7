"""Audience build benchmark: DynamoDB requests per profile scanned, write units per member
stored, profiles scanned per second.

    .venv/bin/python bench/audience_build.py [--profiles N] [--segments S] [--ids short|uuid] [--rfm] [--json out.json]

In process under moto, as the tests run the app (like bench/events_throughput.py part 1,
with its own copy of the request counting): N profiles shaped as the profiles repository
writes them are put straight into the table (not counted), then an attribute-rule
audience (a third of the profiles match) is built over parallel-scan segments, the
segment jobs delivered through the real queue handler by ``drain_inline``. Every botocore
call of the build is counted; units are estimated from parameters and answers: a write
is ceil(item KB) WRU (UpdateItem: 1, the minimum, for the small snapshot and audience
items), a Query ceil(returned bytes / 4 KB) RRU (x0.5 eventually consistent), a Scan is
billed on the bytes it reads before its filter: ScannedCount x the mean profile item size.
Wall-clock throughput is moto's, not DynamoDB's: noisy and only indicative.

With ``--rfm`` 60% of the profiles also have a purchase aggregate (as the events handler
keeps it: one more item per purchaser) and the audience is an RFM source by quintile
scores (two passes: value counts, then members against the cut points), selecting the
"important" segments; its size is checked against a single in-memory pass of ``rfm``.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BOOTSTRAP_KEY = "bench-org-admin-key"
sys.path.insert(0, str(ROOT))
from devstack.fake_env import use_fake_aws  # noqa: E402 - imports no config

use_fake_aws(BOOTSTRAP_KEY)

import botocore.client  # noqa: E402

from item_size import KB, READ_BLOCK, attr_bytes, item_bytes  # noqa: E402,F401 - bench/ is on sys.path
CITIES = ["Hangzhou", "Shanghai", "Beijing"]


class Meter:
    """Counts every botocore call while ``on`` (the patch is on the class: PynamoDB's clients too)."""

    def __init__(self, profile_bytes: float):
        self.on = False
        self.profile_bytes = profile_bytes
        self.calls: Counter[tuple[str, str]] = Counter()
        self.units: defaultdict[str, float] = defaultdict(float)
        self.scanned = 0

    def install(self) -> None:
        original = botocore.client.BaseClient._make_api_call
        meter = self

        def counted(client: Any, op: str, params: dict[str, Any]) -> Any:
            answer = original(client, op, params)
            if meter.on:
                meter.record(client.meta.service_model.service_name, op, params, answer)
            return answer

        setattr(botocore.client.BaseClient, "_make_api_call", counted)

    def record(self, service: str, op: str, params: dict[str, Any], answer: dict[str, Any]) -> None:
        if op == "GetQueueUrl":
            return  # the cloud passes queue URLs in the environment
        self.calls[(service, op)] += 1
        if service != "dynamodb":
            return
        u = self.units
        if op == "BatchWriteItem":
            for requests in params["RequestItems"].values():
                for r in requests:
                    item = r["PutRequest"]["Item"]
                    kind = item.get("kind", {}).get("S", "?")
                    wru = max(1, math.ceil(item_bytes(item) / KB))
                    u["wru"] += wru
                    u["wru:" + kind] += wru
                    u["bytes:" + kind] += item_bytes(item)
                    u["items:" + kind] += 1
        elif op == "PutItem":
            u["wru"] += max(1, math.ceil(item_bytes(params["Item"]) / KB))
            u["wru:snapshot+audience"] += max(1, math.ceil(item_bytes(params["Item"]) / KB))
        elif op in ("UpdateItem", "DeleteItem"):
            u["wru"] += 1
            u["wru:snapshot+audience"] += 1
        elif op == "Scan":
            self.scanned += int(answer.get("ScannedCount", 0))
            u["rru"] += max(1, math.ceil(int(answer.get("ScannedCount", 0)) * self.profile_bytes / READ_BLOCK)) * 0.5
        elif op in ("Query", "GetItem"):
            items = answer.get("Items", []) if op == "Query" else [answer.get("Item", {})]
            rru = max(1, math.ceil(sum(item_bytes(i) for i in items) / READ_BLOCK))
            u["rru"] += rru * (1.0 if params.get("ConsistentRead") else 0.5)


def make_profiles(workspace_id: str, n: int, id_style: str, seed: int) -> tuple[list[dict[str, Any]], int]:
    from chalicelib.profiles.repo import ProfileRecord, profile_item

    rng = random.Random(seed)
    items, matching = [], 0
    for i in range(n):
        user_id = f"user-{i:08d}" if id_style == "short" else str(uuid.UUID(int=rng.getrandbits(128)))
        city = CITIES[i % 3]
        matching += city == "Hangzhou"
        record = ProfileRecord(
            workspace_id=workspace_id, user_id=user_id,
            attributes={"city": city, "age": rng.randint(18, 80), "gender": rng.choice(["f", "m"]),
                        "plan": rng.choice(["free", "pro", "team"]), "signup_channel": rng.choice(["web", "ios", "android"])},
            channels={"email": f"{user_id}@example.com", "phone": f"+86138{rng.randint(0, 99_999_999):08d}"},
            tags=frozenset(rng.sample(["vip", "newsletter", "beta", "churn-risk"], k=rng.randint(0, 2))),
            created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z", version=1)
        items.append(profile_item(record).serialize())
    return items, matching


def purchase_stats(workspace_id: str, items: list[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """A purchase aggregate for 60% of the profiles (counts 1-12, amounts to the cent)."""
    from decimal import Decimal

    from chalicelib.models.profiles import EventStatItem, user_pk

    rng = random.Random(seed + 1)
    stats = []
    for item in items:
        if rng.random() >= 0.6:
            continue
        user_id = item["user_id"]["S"]
        count = rng.randint(1, 12)
        last = f"2026-{rng.randint(1, 4):02d}-{rng.randint(1, 28):02d}T10:00:00.000Z"
        amount = Decimal(rng.randint(100, 500_000)) / 100 * count
        stats.append(EventStatItem(pk=user_pk(workspace_id, user_id), sk="stat#purchase", name="purchase",
                                   event_count=count, first_at="2025-06-01T10:00:00.000Z", last_at=last,
                                   sums={"amount": float(amount)}, version=count).serialize())
    return stats


RFM_SOURCE = {"type": "rfm", "purchase_event": "purchase", "amount_property": "amount",
              "as_of": "2026-05-01T00:00:00+00:00", "segments": ["important_value", "important_development",
                                                                "important_retention", "important_recovery"]}


def rfm_expected(stats: list[dict[str, Any]]) -> tuple[int, dict[str, int]]:
    """Members and distribution by one in-memory pass of the pure model."""
    from chalicelib.audiences import rfm
    from chalicelib.events.aggregates import Stat

    source = rfm.RfmSource.model_validate(RFM_SOURCE)
    as_of = source.as_of_time(datetime.now(timezone.utc))
    facts = [rfm.facts_of(Stat(int(s["event_count"]["N"]), s["first_at"]["S"], s["last_at"]["S"],
                               {"amount": float(s["sums"]["M"]["amount"]["N"])}), "amount", "total", as_of)
             for s in stats]
    cuts = rfm.cutpoints(rfm.collect(facts))
    assessed = [rfm.assess(f, source, cuts) for f in facts if f is not None]
    return (sum(1 for a in assessed if rfm.selects(source, a)),
            rfm.segment_distribution(a.segment for a in assessed))


def run(n: int, segments: int | None, id_style: str, seed: int, with_rfm: bool = False) -> dict[str, Any]:
    from moto import mock_aws

    from devstack import moto_patches

    moto_patches.install()
    with mock_aws():
        from chalicelib import aws, dynamo, ids
        from chalicelib.audiences import builder, repo
        from chalicelib.config import settings
        from devstack import resources
        from devstack.pump import drain_inline

        aws.reset()
        resources.create_all(aws.dynamodb(), aws.sqs(), settings.resource_prefix)
        import app as app_module

        class CityIs:
            def needs_events(self) -> bool:
                return False

            def select(self, profile: Any, stats: Any, tags: frozenset[str]) -> bool:
                return bool(profile.attributes.get("city") == "Hangzhou")

        builder.register("bench_city", lambda source, now: CityIs())
        workspace_id = ids.new_id("ws_")
        items, matching = make_profiles(workspace_id, n, id_style, seed)
        distribution = None
        if with_rfm:
            stats = purchase_stats(workspace_id, items, seed)
            matching, distribution = rfm_expected(stats)
            items += stats
            del stats
        dynamo.batch_put(settings.table("profiles"), items)
        mean_bytes = sum(item_bytes(i) for i in items) / len(items)
        del items
        audience_id = ids.new_id("aud_")
        repo.create_audience(repo.AudienceRecord(
            workspace_id=workspace_id, audience_id=audience_id, name="bench", visibility="public",
            source=RFM_SOURCE if with_rfm else {"type": "bench_city"}, owner_key_id=None, status="building",
            created_at="2026-05-01T00:00:00.000Z", updated_at="2026-05-01T00:00:00.000Z"))

        meter = Meter(mean_bytes)
        meter.install()
        meter.on = True
        now = datetime.now(timezone.utc)
        started = time.perf_counter()
        snapshot = builder.build(workspace_id, audience_id, now, total_segments=segments,
                                 inline=False if segments else None)
        delivered = drain_inline(app_module.app)
        seconds = time.perf_counter() - started
        meter.on = False

        done = repo.get_snapshot(workspace_id, audience_id, snapshot.snapshot_id)
        assert done is not None and done.status == "ready" and done.size == matching, done
        assert distribution is None or done.distribution == distribution, (done.distribution, distribution)
        ddb_requests = sum(c for (service, _), c in meter.calls.items() if service == "dynamodb")
        members_wru = meter.units["wru:run"] + meter.units["wru:members"]
        return {
            "source": "rfm quintiles (two passes)" if with_rfm else "attribute rule",
            "distribution": done.distribution,
            "dynamodb_requests_per_profile": round(ddb_requests / n, 5),
            "profiles": n, "id_style": id_style, "segments": done.total_segments, "messages_delivered": delivered,
            "members": done.size, "pages": done.pages, "mean_profile_item_bytes": round(mean_bytes),
            "profiles_scanned": meter.scanned,
            "dynamodb_requests": ddb_requests,
            "dynamodb_requests_per_profile_scanned": round(ddb_requests / max(1, meter.scanned), 5),
            "wru_total": meter.units["wru"],
            "wru_per_member_stored": round(meter.units["wru"] / max(1, done.size), 5),
            "wru_per_member_runs_and_pages_only": round(members_wru / max(1, done.size), 5),
            "wru_by_kind": {k[4:]: v for k, v in meter.units.items() if k.startswith("wru:")},
            "stored_bytes_per_member": {k[6:]: round(v / max(1, done.size), 2)
                                        for k, v in meter.units.items() if k.startswith("bytes:")},
            "rru_total": meter.units["rru"],
            "calls": {f"{s}.{op}": c for (s, op), c in sorted(meter.calls.items())},
            "seconds_moto": round(seconds, 2),
            "profiles_scanned_per_second_moto": round(meter.scanned / seconds),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--segments", type=int, default=None, help="default: sized from the table's item count")
    parser.add_argument("--ids", choices=["short", "uuid"], default="uuid")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--rfm", action="store_true", help="an RFM quintile audience over purchase aggregates")
    args = parser.parse_args()
    report = run(args.profiles, args.segments, args.ids, args.seed, args.rfm)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok = report["dynamodb_requests_per_profile_scanned"] <= 0.01 and report["wru_per_member_stored"] <= 0.05
    print(f"targets (<= 0.01 requests per profile scanned, <= 0.05 WRU per member): {'met' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
