"""RFM by quintile scores on real data, built for real: the CDNOW sample's 2,357 customers
as profiles with the purchase aggregates the events handler keeps, an audience built in
four parallel segments over the audience-jobs queue through the Lambda handler (both
passes, one first-pass message delivered twice), and each segment's size, the members and
the distribution equal the independent computation of tests/unit/test_rfm_cdnow.py."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from chalicelib import dynamo, ids
from chalicelib.audiences import builder, repo, rfm
from chalicelib.config import settings
from chalicelib.models.profiles import EventStatItem, user_pk
from chalicelib.profiles.repo import ProfileRecord, profile_item
from tests.handlers.test_audience_build import deliver, new_audience, queued_jobs, stored_members
from tests.unit.test_rfm_cdnow import AS_OF, NAMES, STATS, _expected_facts, _expected_scores

SEGMENTS = 4


@pytest.fixture(scope="module")
def cdnow(aws_backend) -> str:
    workspace_id = ids.new_id("ws_")
    dynamo.batch_put(settings.table("profiles"), [profile_item(ProfileRecord(
        workspace_id=workspace_id, user_id=customer, attributes={}, channels={}, tags=frozenset(),
        created_at="1997-01-01T00:00:00.000Z", updated_at="1997-01-01T00:00:00.000Z", version=1)).serialize()
        for customer in STATS])
    dynamo.batch_put(settings.table("profiles"), [EventStatItem(
        pk=user_pk(workspace_id, customer), sk="stat#purchase", name="purchase", event_count=stat.count,
        first_at=stat.first_at, last_at=stat.last_at, sums=dict(stat.sums), version=stat.count).serialize()
        for customer, stat in STATS.items()])
    return workspace_id


def expected_segments(monetary: str) -> dict[str, str]:
    return {c: NAMES[(int(r >= 3), int(f >= 3), int(m >= 3))]
            for c, (r, f, m) in _expected_scores(_expected_facts(monetary)).items()}


def build_through_the_queue(app, workspace_id: str, source: dict) -> repo.SnapshotRecord:
    audience_id = new_audience(workspace_id, source)
    started = builder.build(workspace_id, audience_id, AS_OF, total_segments=SEGMENTS, inline=False)
    assert started.status == "building" and started.phase == "values"

    first = queued_jobs()
    assert [json.loads(m["Body"])["phase"] for m in first] == ["values"] * SEGMENTS
    deliver(app, first + first[:1])  # the first segment's values delivered twice
    second = queued_jobs()
    assert sorted(json.loads(m["Body"])["segment"] for m in second if json.loads(m["Body"])["phase"] == "members") \
        == list(range(SEGMENTS))
    deliver(app, second)
    assert queued_jobs() == []
    snapshot = repo.get_snapshot(workspace_id, audience_id, started.snapshot_id)
    assert snapshot is not None and snapshot.status == "ready", snapshot
    return snapshot


@pytest.mark.parametrize("monetary", ["total", "average"])
def test_a_quintile_build_over_cdnow_matches_the_independent_segments(app, cdnow, monetary) -> None:
    chosen = ["important_value", "general_value", "important_recovery"]
    snapshot = build_through_the_queue(app, cdnow, {
        "type": "rfm", "purchase_event": "purchase", "amount_property": "amount", "monetary": monetary,
        "segments": chosen})

    expected = expected_segments(monetary)
    sizes = Counter(expected.values())
    assert snapshot.distribution == {name: sizes[name] for name in rfm.SEGMENTS}
    assert sum(snapshot.distribution.values()) == 2357
    members = stored_members(cdnow, snapshot.snapshot_id)
    assert members == sorted(c for c, segment in expected.items() if segment in chosen)
    assert snapshot.size == sum(sizes[name] for name in chosen) > 0


def test_a_score_range_build_over_cdnow_matches_the_independent_scores(app, cdnow) -> None:
    snapshot = build_through_the_queue(app, cdnow, {
        "type": "rfm", "purchase_event": "purchase", "amount_property": "amount",
        "as_of": AS_OF.isoformat(), "scores": {"r": [4, 5], "f": [2, 5]}})

    scores = _expected_scores(_expected_facts("total"))
    assert stored_members(cdnow, snapshot.snapshot_id) == sorted(
        c for c, (r, f, _) in scores.items() if r >= 4 and f >= 2)
