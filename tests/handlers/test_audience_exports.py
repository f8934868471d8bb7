"""Audience exports through the routes and the audience-jobs handler, against local peers:
S3 on moto (a CSV, formula cells neutralised, multipart), a webhook on pytest-httpserver
(signed, batched, retried, resumed without resending), Kafka on the tansu broker (one
record per user, consumed back)."""
from __future__ import annotations

import csv
import hashlib
import hmac
import io
import json
from typing import Any

import pytest
from werkzeug import Request, Response

from chalicelib import aws, ids
from chalicelib.audiences import exports, repo
from chalicelib.config import settings
from tests.handlers.test_audience_build import invoke, profile, put_profiles, queued_jobs, record

SECRET = "s3cr3t-signing-key-0123456789"
HOMES = {"h1": "=HYPERLINK(\"http://evil\")", "h2": "+1-555", "h3": "-5", "h4": "@SUM(A1)", "h5": "\tlead",
         "h6": "plain, with comma", "h7": "\rcarriage"}


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(exports, "sleep", lambda seconds: None)


def audience_of(api, workspace, drain, users: dict[str, str]) -> str:
    key = workspace.admin_key
    for user, home in users.items():
        r = api.put(f"/v1/profiles/{user}", {"attributes": {"home": home, "tier": "gold"},
                                             "email": f"{user}@example.com"}, key=key)
        assert r.status in (200, 201), r.json
    created = api.post("/v1/audiences", {"name": "gold", "source": {
        "type": "rules", "conditions": [{"attribute": "tier", "op": "eq", "value": "gold"}]}}, key=key)
    assert created.status == 202, created.json
    drain()
    assert api.get(f"/v1/audiences/{created.json['id']}", key=key).json["status"] == "ready"
    return created.json["id"]


def export(api, workspace, audience_id: str, body: dict[str, Any]) -> dict[str, Any]:
    r = api.post(f"/v1/audiences/{audience_id}/exports", body, key=workspace.admin_key)
    assert r.status == 202, r.json
    assert r.json["status"] == "running"
    return r.json


def status(api, workspace, audience_id: str, export_id: str) -> dict[str, Any]:
    r = api.get(f"/v1/audiences/{audience_id}/exports/{export_id}", key=workspace.admin_key)
    assert r.status == 200, r.json
    return r.json


def stored_csv(workspace_id: str, audience_id: str, export_id: str) -> list[list[str]]:
    body = aws.s3().get_object(Bucket=settings.bucket("uploads"),
                               Key=exports.s3_key(workspace_id, audience_id, export_id))["Body"].read()
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))


# --- s3 ----------------------------------------------------------------------------------------

def test_an_s3_export_is_a_csv_with_formula_cells_neutralised_and_a_download_link(api, workspace, drain):
    audience_id = audience_of(api, workspace, drain, HOMES)

    started = export(api, workspace, audience_id, {"target": "s3", "fields": ["home", "email", "missing"]})
    drain()
    done = status(api, workspace, audience_id, started["id"])

    assert done["status"] == "done" and done["rows"] == 7
    assert done["download_url"] and f"exports/{workspace.id}/{audience_id}/{started['id']}.csv" in done["download_url"]
    rows = stored_csv(workspace.id, audience_id, started["id"])
    assert rows[0] == ["user_id", "home", "email", "missing"]
    assert rows[1:] == [[u, ("'" + h if h[0] in "=+-@\t\r" else h), f"{u}@example.com", ""]
                        for u, h in sorted(HOMES.items())]
    assert rows[1][1] == "'=HYPERLINK(\"http://evil\")" and rows[6][1] == "plain, with comma"


def test_a_big_s3_export_is_uploaded_in_parts_over_several_runs(aws_backend, app, monkeypatch):
    import moto.s3.models

    monkeypatch.setattr(moto.s3.models, "S3_UPLOAD_PART_MIN_SIZE", 1024)
    monkeypatch.setattr(exports, "PART_BYTES", 4096)
    monkeypatch.setattr(exports, "PAGES_PER_RUN", 1)
    workspace_id, audience_id, users = snapshot_of(2500)
    created = exports.create(repo.get_audience(workspace_id, audience_id), exports.ExportCreate(target="s3"),
                             _now())

    runs = run_queue(app)

    done = repo.get_export(workspace_id, audience_id, created.id)
    assert done is not None and done.status == "done" and done.rows == 2500
    assert runs == 3 and len(done.parts) == 3  # a page per run, each page over PART_BYTES: a part each
    assert [r[0] for r in stored_csv(workspace_id, audience_id, created.id)] == ["user_id", *users]


def test_an_s3_export_of_an_empty_audience_is_the_header_alone(api, workspace, drain):
    key = workspace.admin_key
    created = api.post("/v1/audiences", {"name": "nobody", "source": {
        "type": "rules", "conditions": [{"attribute": "tier", "op": "eq", "value": "no such tier"}]}}, key=key)
    drain()
    assert api.get(f"/v1/audiences/{created.json['id']}", key=key).json["size"] == 0

    started = export(api, workspace, created.json["id"], {"target": "s3", "fields": ["tier"]})
    drain()

    assert status(api, workspace, created.json["id"], started["id"])["status"] == "done"
    assert stored_csv(workspace.id, created.json["id"], started["id"]) == [["user_id", "tier"]]


def test_the_csv_neutraliser_prefixes_every_formula_start_and_nothing_else():
    assert [exports.neutralise(c) for c in ["=1+1", "+1", "-1", "@x", "\tx", "\rx", "a=b", "", "1"]] == \
        ["'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=b", "", "1"]


# --- webhook ------------------------------------------------------------------------------------

class Hook:
    """A webhook receiver that checks signatures and answers from a script (200 by default)."""

    def __init__(self, answers: list[int] | None = None):
        self.answers = list(answers or [])
        self.accepted: list[dict[str, Any]] = []
        self.calls = 0

    def __call__(self, request: Request) -> Response:
        self.calls += 1
        body = request.get_data()
        timestamp = request.headers["X-MA-Timestamp"]
        expected = "v1=" + hmac.new(SECRET.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        assert request.headers["X-MA-Signature"] == expected
        code = self.answers.pop(0) if self.answers else 200
        if code == 200:
            self.accepted.append(json.loads(body))
        return Response("{}", status=code, content_type="application/json")


def test_a_webhook_export_posts_signed_exact_batches_and_retries_a_500(api, workspace, drain, httpserver):
    audience_id = audience_of(api, workspace, drain, HOMES)
    hook = Hook([500])
    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)

    started = export(api, workspace, audience_id, {"target": "webhook", "url": httpserver.url_for("/hook"),
                                                   "secret": SECRET, "batch_size": 3, "fields": ["home"]})
    drain()

    done = status(api, workspace, audience_id, started["id"])
    assert done["status"] == "done" and done["rows"] == 7 and done["batches"] == 3
    assert hook.calls == 4  # batch 1 answered 500 once, then 200
    assert [b["batch"] for b in hook.accepted] == [1, 2, 3]
    assert all(b["export_id"] == started["id"] and b["audience_id"] == audience_id for b in hook.accepted)
    assert [[u["user_id"] for u in b["users"]] for b in hook.accepted] == [["h1", "h2", "h3"], ["h4", "h5", "h6"], ["h7"]]
    assert hook.accepted[0]["users"][0] == {"user_id": "h1", "home": HOMES["h1"]}  # JSON: no CSV neutralising


def test_an_interrupted_webhook_export_resumes_without_resending_acknowledged_batches(api, workspace, drain,
                                                                                      app, httpserver):
    audience_id = audience_of(api, workspace, drain, HOMES)
    hook = Hook([200, 200] + [503] * 4)  # batch 3 fails every attempt of the first run
    httpserver.expect_request("/hook", method="POST").respond_with_handler(hook)
    started = export(api, workspace, audience_id, {"target": "webhook", "url": httpserver.url_for("/hook"),
                                                   "secret": SECRET, "batch_size": 2})
    [message] = queued_jobs()

    first = invoke(app, record(message["Body"], message["MessageId"]))
    assert first["batchItemFailures"] == [{"itemIdentifier": message["MessageId"]}]  # SQS redelivers it
    midway = status(api, workspace, audience_id, started["id"])
    assert midway["status"] == "running" and midway["rows"] == 4 and midway["batches"] == 2

    again = invoke(app, record(message["Body"], message["MessageId"]))  # the redelivery; the webhook is back

    assert again == {"batchItemFailures": []}
    assert [b["batch"] for b in hook.accepted] == [1, 2, 3, 4]
    assert [u["user_id"] for b in hook.accepted for u in b["users"]] == sorted(HOMES)
    assert status(api, workspace, audience_id, started["id"])["status"] == "done"


def test_a_webhook_that_refuses_with_a_4xx_fails_the_export_with_the_status(api, workspace, drain, httpserver):
    audience_id = audience_of(api, workspace, drain, {"x1": "a"})
    httpserver.expect_request("/hook", method="POST").respond_with_handler(Hook([403]))
    started = export(api, workspace, audience_id, {"target": "webhook", "url": httpserver.url_for("/hook"),
                                                   "secret": SECRET})
    drain()

    failed = status(api, workspace, audience_id, started["id"])
    assert failed["status"] == "failed" and "403" in failed["reason"] and failed["rows"] == 0


def test_export_requests_that_cannot_work_are_4xx(api, workspace, drain):
    key = workspace.admin_key
    audience_id = audience_of(api, workspace, drain, {"y1": "a"})
    path = f"/v1/audiences/{audience_id}/exports"

    assert api.post(path, {"target": "ftp"}, key=key).status == 400
    assert api.post(path, {"target": "webhook", "url": "http://x.example/h"}, key=key).json["errors"][0]["field"] == "url"
    assert api.post(path, {"target": "s3", "topic": "t"}, key=key).json["errors"][0]["field"] == "topic"
    assert api.post(path, {"target": "s3", "fields": ["user_id"]}, key=key).json["errors"][0]["field"] == "fields[0]"
    unknown = api.post(path, {"target": "kafka", "provider": "nope", "topic": "t"}, key=key)
    assert unknown.status == 400 and unknown.json["errors"][0]["field"] == "provider"
    assert api.post("/v1/audiences/audnone/exports", {"target": "s3"}, key=key).status == 404
    assert api.get(f"{path}/expnone", key=key).status == 404


# --- kafka --------------------------------------------------------------------------------------

def snapshot_of(count: int) -> tuple[str, str, list[str]]:
    """A workspace whose audience has a ready snapshot of ``count`` members (several pages)."""
    from chalicelib.audiences import builder
    from tests.handlers.test_audience_build import new_audience

    workspace_id = ids.new_id("ws_")
    users = [f"k{i:05d}" for i in range(count)]
    put_profiles([profile(workspace_id, u, "Hangzhou") for u in users])
    audience_id = new_audience(workspace_id, {"type": "rules", "conditions": [
        {"attribute": "city", "op": "eq", "value": "Hangzhou"}]})
    snapshot = builder.build(workspace_id, audience_id, _now(), total_segments=1, inline=True)
    assert snapshot.status == "ready" and snapshot.size == count and (snapshot.pages or 0) >= 3
    return workspace_id, audience_id, users


def _now():
    from chalicelib import clock

    return clock.now()


def run_queue(app) -> int:
    """Deliver audience-jobs messages (continuations included) until none is left; returns runs."""
    runs = 0
    while messages := queued_jobs():
        for m in messages:
            assert invoke(app, record(m["Body"], m["MessageId"])) == {"batchItemFailures": []}
            runs += 1
    return runs


def test_a_kafka_export_writes_one_record_per_user_consumed_back(aws_backend, app, kafka_broker, monkeypatch):
    from kafka import KafkaConsumer

    monkeypatch.setattr(exports, "PAGES_PER_RUN", 1)  # a run per page, each continuing the last
    workspace_id, audience_id, users = snapshot_of(2500)
    topic = "audience-" + audience_id
    created = exports.create(repo.get_audience(workspace_id, audience_id), exports.ExportCreate(
        target="kafka", bootstrap_servers=kafka_broker.bootstrap, topic=topic, fields=["city"]), _now())

    assert run_queue(app) == 3
    done = repo.get_export(workspace_id, audience_id, created.id)
    assert done is not None and done.status == "done" and done.rows == 2500 and done.batches == 3

    consumer = KafkaConsumer(topic, bootstrap_servers=[kafka_broker.bootstrap], auto_offset_reset="earliest",
                             consumer_timeout_ms=4000, group_id=None)
    records = [(m.key.decode(), json.loads(m.value)) for m in consumer]
    consumer.close()
    assert sorted(k for k, _ in records) == users  # every user once
    assert all(v == {"user_id": k, "city": "Hangzhou", "audience_id": audience_id, "export_id": created.id}
               for k, v in records)


def test_a_kafka_export_through_a_provider_uses_its_servers_and_topic(api, workspace, drain, kafka_broker):
    from kafka import KafkaConsumer

    key = workspace.admin_key
    r = api.put("/v1/providers/events-bus", {"channel": "webhook", "kind": "kafka", "settings": {
        "bootstrap_servers": kafka_broker.bootstrap, "topic": "bus-" + workspace.id}}, key=key)
    assert r.status in (200, 201), r.json
    audience_id = audience_of(api, workspace, drain, {"p1": "a", "p2": "b"})

    started = export(api, workspace, audience_id, {"target": "kafka", "provider": "events-bus"})
    drain()

    assert status(api, workspace, audience_id, started["id"])["rows"] == 2
    consumer = KafkaConsumer("bus-" + workspace.id, bootstrap_servers=[kafka_broker.bootstrap],
                             auto_offset_reset="earliest", consumer_timeout_ms=4000, group_id=None)
    assert sorted(m.key.decode() for m in consumer) == ["p1", "p2"]
    consumer.close()


def test_text_that_cannot_be_stored_is_a_400_not_a_500(api, workspace, drain):
    audience_id = audience_of(api, workspace, drain, {"z1": "a"})
    for body in (b'{"target": "webhook", "url": "http://h.example/\\ud800", "secret": "0123456789abcdef"}',
                 b'{"target": "webhook", "url": "http://h.example/", "secret": "0123456789abcdef\\ud800"}'):
        r = api.post(f"/v1/audiences/{audience_id}/exports", raw=body, key=workspace.admin_key)
        assert r.status == 400, r.json
