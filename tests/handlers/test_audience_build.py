"""Audience snapshot builds: parallel-scan segments over SQS, counted once under
redelivery, merged into packed member pages; refresh, membership checks, iteration."""
from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import pytest

from chalicelib import aws, clock, dynamo, ids
from chalicelib.audiences import builder, members, repo
from chalicelib.audiences.messages import BuildSegment
from chalicelib.config import settings
from chalicelib.models.audiences import members_pk
from chalicelib.models.profiles import EventStatItem, user_pk
from chalicelib.profiles.repo import ProfileRecord, StatRecord, profile_item

NOW = datetime(2026, 5, 1, 9, 0, tzinfo=timezone.utc)
LATER = datetime(2026, 5, 2, 9, 0, tzinfo=timezone.utc)
CITIES = ("Hangzhou", "Shanghai", "Beijing")


@dataclass(frozen=True)
class AttributeEquals:
    """The simplest selector: one attribute equal to one value."""

    name: str
    value: Any

    def needs_events(self) -> bool:
        return False

    def select(self, profile: ProfileRecord, stats: Mapping[str, StatRecord], tags: frozenset[str]) -> bool:
        return profile.attributes.get(self.name) == self.value


@dataclass(frozen=True)
class BoughtAtLeast:
    """A selector on event aggregates and tags."""

    times: int
    tag: str

    def needs_events(self) -> bool:
        return True

    def select(self, profile: ProfileRecord, stats: Mapping[str, StatRecord], tags: frozenset[str]) -> bool:
        purchase = stats.get("purchase")
        return purchase is not None and purchase.count >= self.times and self.tag in tags


builder.register("test_attribute", lambda source, now: AttributeEquals(source["attribute"], source["value"]))
builder.register("test_bought", lambda source, now: BoughtAtLeast(int(source["times"]), source["tag"]))


def profile(workspace_id: str, user_id: str, city: str, tags: frozenset[str] = frozenset()) -> ProfileRecord:
    return ProfileRecord(workspace_id=workspace_id, user_id=user_id, attributes={"city": city, "age": 30},
                         channels={"email": f"{user_id}@example.com"}, tags=tags,
                         created_at="2026-01-01T00:00:00.000Z", updated_at="2026-01-01T00:00:00.000Z", version=1)


def put_profiles(records: list[ProfileRecord]) -> None:
    """Straight to the table, shaped as the profiles repository writes them (BatchWriteItem)."""
    dynamo.batch_put(settings.table("profiles"), [profile_item(r).serialize() for r in records])


def new_audience(workspace_id: str, source: dict[str, Any]) -> str:
    audience_id = ids.new_id("aud_")
    assert repo.create_audience(repo.AudienceRecord(
        workspace_id=workspace_id, audience_id=audience_id, name="Hangzhou", visibility="public", source=source,
        owner_key_id="key_1", status="building", created_at="2026-05-01T09:00:00.000Z",
        updated_at="2026-05-01T09:00:00.000Z"))
    return audience_id


def queued_jobs() -> list[dict[str, Any]]:
    """Take every message off the audience-jobs queue (as Lambda's poller would)."""
    sqs, url = aws.sqs(), aws.queue_url(settings.queue("audience-jobs"))
    taken = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        taken += batch
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)])
    return taken


def record(body: str, message_id: str | None = None) -> dict[str, Any]:
    return {"messageId": message_id or str(uuid.uuid4()), "receiptHandle": "rh", "body": body,
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ma-local-audience-jobs",
            "awsRegion": "us-east-1"}


def invoke(app, *records: dict[str, Any]) -> dict[str, Any]:
    from devstack.lambda_shapes import FakeContext

    return app.handler_map["on_audience_jobs"]({"Records": list(records)}, FakeContext("on_audience_jobs"))


def deliver(app, messages: list[dict[str, Any]], *, batch: int = 2) -> None:
    for start in range(0, len(messages), batch):
        result = invoke(app, *[record(m["Body"], m["MessageId"]) for m in messages[start:start + batch]])
        assert result == {"batchItemFailures": []}


def stored_members(workspace_id: str, snapshot_id: str) -> list[str]:
    return [u for page in repo.iter_pages(workspace_id, snapshot_id) for u in page]


def test_a_twin_delivery_racing_the_first_is_counted_once_and_its_run_is_never_read(app, aws_backend, monkeypatch):
    workspace_id = ids.new_id("ws_")
    put_profiles([profile(workspace_id, f"user-{i:03d}", CITIES[i % 3]) for i in range(300)])
    expected = [f"user-{i:03d}" for i in range(0, 300, 3)]  # 100 in Hangzhou, more than the 10 the racer keeps
    audience_id = new_audience(workspace_id, {"type": "test_attribute", "attribute": "city", "value": "Hangzhou"})
    snapshot = builder.build(workspace_id, audience_id, NOW, total_segments=2, inline=False)
    jobs = [BuildSegment.model_validate_json(m["Body"]) for m in queued_jobs()]
    original = repo.write_run
    raced = []

    def write_run_after_the_twin(snap, segment, attempt, sorted_ids, expires_at):
        if segment == 0 and not raced:  # the twin runs to completion between this scan and this write
            raced.append("running")
            raced[0] = builder.run_segment(jobs[0], NOW)
            sorted_ids = sorted_ids[:10]  # and this delivery saw different data: it must not matter
        return original(snap, segment, attempt, sorted_ids, expires_at)

    monkeypatch.setattr(repo, "write_run", write_run_after_the_twin)
    outcomes = [builder.run_segment(jobs[0], NOW), builder.run_segment(jobs[1], NOW)]

    assert raced == ["done"] and outcomes == ["duplicate", "sealed"]
    done = repo.get_snapshot(workspace_id, audience_id, snapshot.snapshot_id)
    assert done is not None and done.status == "ready" and done.size == len(expected)
    assert stored_members(workspace_id, snapshot.snapshot_id) == expected


def test_a_refresh_keeps_the_old_snapshot_readable_until_the_new_one_is_ready(app, aws_backend):
    workspace_id = ids.new_id("ws_")
    put_profiles([profile(workspace_id, f"u{i:03d}", CITIES[i % 3]) for i in range(60)])
    audience_id = new_audience(workspace_id, {"type": "test_attribute", "attribute": "city", "value": "Shanghai"})
    first = builder.build(workspace_id, audience_id, NOW, total_segments=3, inline=False)
    deliver(app, queued_jobs())
    old_members = stored_members(workspace_id, first.snapshot_id)
    assert old_members == [f"u{i:03d}" for i in range(1, 60, 3)]

    put_profiles([profile(workspace_id, f"u{i:03d}", "Shanghai") for i in range(0, 60, 3)])  # 20 more
    second = builder.build(workspace_id, audience_id, LATER, total_segments=3, inline=False)
    jobs = queued_jobs()
    deliver(app, jobs[:2])  # not finished: readers still get the old snapshot

    during = repo.get_audience(workspace_id, audience_id)
    assert during is not None and during.current_snapshot == first.snapshot_id and during.status == "ready"
    assert during.building_snapshot == second.snapshot_id
    assert stored_members(workspace_id, first.snapshot_id) == old_members

    deliver(app, jobs[2:])

    after = repo.get_audience(workspace_id, audience_id)
    assert after is not None and after.current_snapshot == second.snapshot_id
    new = repo.get_snapshot(workspace_id, audience_id, second.snapshot_id)
    assert new is not None and new.status == "ready" and new.size == 40
    old = repo.get_snapshot(workspace_id, audience_id, first.snapshot_id)
    assert old is not None and old.status == "ready" and old.superseded_at is not None
    grace_end = int(clock.parse_iso(old.superseded_at).timestamp()) + settings.audience_snapshot_grace_hours * 3600
    assert old.expires_at == grace_end
    assert stored_members(workspace_id, first.snapshot_id) == old_members  # still readable in the grace period
    pages = aws.dynamodb().query(TableName=settings.table("audiences"), KeyConditionExpression="pk = :pk",
                                 ExpressionAttributeValues={":pk": {"S": members_pk(workspace_id, first.snapshot_id)}})
    assert pages["Items"] and all(int(p["expires_at"]["N"]) == grace_end for p in pages["Items"])


def test_an_older_build_finishing_last_does_not_replace_a_newer_current_snapshot(app, aws_backend):
    workspace_id = ids.new_id("ws_")
    put_profiles([profile(workspace_id, f"u{i}", "Beijing") for i in range(5)])
    audience_id = new_audience(workspace_id, {"type": "test_attribute", "attribute": "city", "value": "Beijing"})
    older = builder.build(workspace_id, audience_id, NOW, total_segments=1, inline=False)
    older_jobs = queued_jobs()
    newer = builder.build(workspace_id, audience_id, LATER, total_segments=1, inline=True)

    deliver(app, older_jobs)

    audience = repo.get_audience(workspace_id, audience_id)
    assert audience is not None and audience.current_snapshot == newer.snapshot_id
    stale = repo.get_snapshot(workspace_id, audience_id, older.snapshot_id)
    assert stale is not None and stale.status == "ready" and stale.expires_at is not None


def test_a_small_build_runs_inline_with_event_aggregates_and_tags(aws_backend):
    workspace_id = ids.new_id("ws_")
    put_profiles([profile(workspace_id, f"u{i}", "Hangzhou", frozenset({"vip"} if i % 2 else ())) for i in range(8)])
    dynamo.batch_put(settings.table("profiles"), [EventStatItem(
        pk=user_pk(workspace_id, f"u{i}"), sk="stat#purchase", name="purchase", event_count=i, first_at="2026-01-01",
        last_at="2026-04-01", version=1).serialize() for i in range(8)])
    audience_id = new_audience(workspace_id, {"type": "test_bought", "times": 3, "tag": "vip"})

    snapshot = builder.build(workspace_id, audience_id, NOW, total_segments=1, inline=True)

    assert snapshot.status == "ready" and snapshot.size == 3
    assert stored_members(workspace_id, snapshot.snapshot_id) == ["u3", "u5", "u7"]


def test_a_source_no_build_understands_fails_the_snapshot_with_a_reason(aws_backend):
    workspace_id = ids.new_id("ws_")
    audience_id = new_audience(workspace_id, {"type": "horoscope"})

    snapshot = builder.build(workspace_id, audience_id, NOW, total_segments=1, inline=True)

    assert snapshot.status == "failed" and snapshot.reason == "audiences of source type 'horoscope' cannot be built"
    audience = repo.get_audience(workspace_id, audience_id)
    assert audience is not None and audience.status == "failed"


def test_a_malformed_job_is_dead_lettered_with_its_reason(app):
    result = invoke(app, record('{"type": "build_segment", "segment": -1}'))

    assert result == {"batchItemFailures": []}
    sqs = aws.sqs()
    dead = sqs.receive_message(QueueUrl=aws.queue_url(settings.queue("audience-jobs-dlq")),
                               MessageAttributeNames=["All"])["Messages"]
    assert dead[0]["Body"] == '{"type": "build_segment", "segment": -1}'  # as it came, for a redrive
    reason = dead[0]["MessageAttributes"]["reason"]["StringValue"]
    assert reason.startswith("not a job the audience-jobs queue understands") and "segment" in reason


def test_segments_are_sized_from_the_table_item_count():
    assert builder.plan_segments(0, 50_000, 1_000) == 1
    assert builder.plan_segments(50_001, 50_000, 1_000) == 2
    assert builder.plan_segments(10**9, 50_000, 1_000) == 1_000


def test_a_segment_failing_on_its_last_receive_fails_the_snapshot_with_the_reason(app, aws_backend, monkeypatch):
    from chalicelib.handlers import audience_jobs

    workspace_id = ids.new_id("ws_")
    audience_id = new_audience(workspace_id, {"type": "test_attribute", "attribute": "city", "value": "Hangzhou"})
    snapshot = builder.build(workspace_id, audience_id, NOW, total_segments=2, inline=False)
    [job, *_] = queued_jobs()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the scan keeps failing")

    monkeypatch.setattr(repo, "scan_segment", broken)
    first = invoke(app, record(job["Body"], "j1"))
    assert first == {"batchItemFailures": [{"itemIdentifier": "j1"}]}
    assert repo.get_snapshot(workspace_id, audience_id, snapshot.snapshot_id).status == "building"

    last = {**record(job["Body"], "j1"), "attributes": {"ApproximateReceiveCount": str(audience_jobs.LAST_RECEIVE)}}
    assert invoke(app, last) == {"batchItemFailures": [{"itemIdentifier": "j1"}]}

    failed = repo.get_snapshot(workspace_id, audience_id, snapshot.snapshot_id)
    segment = json.loads(job["Body"])["segment"]
    assert failed.status == "failed" and f"segment {segment} failed 3 times: RuntimeError" in failed.reason
    assert repo.get_audience(workspace_id, audience_id).status == "failed"


def test_the_handlers_last_receive_is_the_queues_max_receive_count():
    from chalicelib.handlers import audience_jobs
    from devstack.resources import load_template

    queue = load_template()["Resources"]["AudienceJobsQueue"]["Properties"]
    assert queue["RedrivePolicy"]["maxReceiveCount"] == audience_jobs.LAST_RECEIVE


# --- over 20,000 profiles -----------------------------------------------------------------------
# Last in the module: moto's Scan walks the whole table for each segment and page, so the small
# builds above run before the 20,000 profiles are stored (they stay until the module ends).

@pytest.fixture(scope="module")
def big(aws_backend) -> tuple[str, list[str]]:
    """A workspace of 20,000 profiles (a third in Hangzhou), plus another workspace whose
    Hangzhou profiles must never be selected. Returns (workspace id, expected member ids)."""
    workspace_id = ids.new_id("ws_")
    records = [profile(workspace_id, f"user-{i:05d}", CITIES[i % 3]) for i in range(20_000)]
    other = ids.new_id("ws_")
    put_profiles(records + [profile(other, f"user-{i:05d}", "Hangzhou") for i in range(300)])
    return workspace_id, sorted(r.user_id for r in records if r.attributes["city"] == "Hangzhou")


@pytest.fixture(scope="module")
def built(app, big) -> tuple[str, str, repo.SnapshotRecord, list[str]]:
    """The Hangzhou audience of ``big`` built over 16 segments with segment 5 delivered twice:
    once while the build runs and once after it is sealed."""
    workspace_id, expected = big
    audience_id = new_audience(workspace_id, {"type": "test_attribute", "attribute": "city", "value": "Hangzhou"})
    started = builder.build(workspace_id, audience_id, NOW, total_segments=16, inline=False)
    jobs = queued_jobs()
    assert len(jobs) == 16
    twin = next(m for m in jobs if json.loads(m["Body"])["segment"] == 5)
    deliver(app, jobs[:8] + [twin] + jobs[8:] + [twin])
    snapshot = repo.get_snapshot(workspace_id, audience_id, started.snapshot_id)
    assert snapshot is not None
    return workspace_id, audience_id, snapshot, expected


def test_a_build_in_parallel_segments_with_a_redelivered_segment_has_the_exact_size(built):
    workspace_id, audience_id, snapshot, expected = built

    assert snapshot.status == "ready"
    assert snapshot.done_segments == frozenset(range(16))
    assert snapshot.size == snapshot.matched == len(expected) == 6_667
    audience = repo.get_audience(workspace_id, audience_id)
    assert audience is not None and audience.current_snapshot == snapshot.snapshot_id and audience.status == "ready"


def test_the_pages_hold_each_member_once_in_order(built):
    workspace_id, _, snapshot, expected = built

    pages = list(repo.iter_pages(workspace_id, snapshot.snapshot_id))

    assert [u for page in pages for u in page] == expected
    assert len(pages) == snapshot.pages == 7
    assert all(len(page) <= members.MAX_IDS for page in pages)


def test_members_are_listed_with_a_cursor(built):
    workspace_id, _, snapshot, expected = built
    listed, cursor = [], None
    while True:
        part, cursor = repo.members_after(workspace_id, snapshot.snapshot_id, cursor, 700)
        listed += part
        if cursor is None:
            break
    assert listed == expected
    assert repo.members_after(workspace_id, snapshot.snapshot_id, "user-00003", 3)[0] == ["user-00006", "user-00009", "user-00012"]


def test_a_membership_check_answers_exactly_with_one_query_per_page_touched(built, monkeypatch):
    workspace_id, _, snapshot, expected = built
    calls = []
    original = repo._page_holding
    monkeypatch.setattr(repo, "_page_holding", lambda pk, user_id: calls.append(user_id) or original(pk, user_id))
    members_set = set(expected)
    candidates = ["user-00000", "user-00001", "user-19998", "user-19999", "user-99999", "a-before-all",
                  "user-07500", "user-07501", "zzz", expected[999], expected[1000], "user-03000"]

    found = repo.members_in(workspace_id, snapshot.snapshot_id, candidates)

    assert found == {c for c in candidates if c in members_set}
    assert len(calls) <= len(candidates)
    firsts = [page[0] for page in repo.iter_pages(workspace_id, snapshot.snapshot_id)]
    touched = {members.page_index(firsts, c) for c in candidates}
    assert len(calls) == len(touched)  # candidates sharing a page cost one Query
