"""Upload audiences through the API: presigned PUT, build on the audience-jobs queue, the report."""
from __future__ import annotations

import base64
import io
import json

import pytest
import requests

from chalicelib import aws
from chalicelib.audiences import crypto, repo
from chalicelib.config import settings

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


@pytest.fixture
def log_stream():
    """Every log line at DEBUG, for the duration of a test (as tests/api/test_observability.py)."""
    from chalicelib import logs

    stream = io.StringIO()
    handler = logs.logger.registered_handler
    previous = handler.setStream(stream)
    logs.logger.setLevel("DEBUG")
    yield stream
    logs.logger.setLevel("WARNING")
    handler.setStream(previous)
    logs.clear()


def upload_audience(api, key, id_type="phone", **extra) -> str:
    r = api.post("/v1/audiences", {"name": f"{id_type} list", "visibility": "public",
                                   "source": {"type": "upload", "id_type": id_type, **extra}}, key=key)
    assert r.status == 202, r.json
    assert r.json["status"] == "awaiting_upload" and r.json["snapshot"] is None
    return r.json["id"]


def put_file(api, key, audience_id, data: bytes) -> dict:
    r = api.post(f"/v1/audiences/{audience_id}/upload-url", key=key)
    assert r.status == 200, r.json
    answer = r.json
    assert answer["method"] == "PUT" and answer["headers"] == {"Content-Type": "text/csv"}
    put = requests.put(answer["url"], data=data, headers=answer["headers"], timeout=30)
    assert put.status_code == 200, put.text
    return answer


def build(api, key, audience_id, drain) -> dict:
    r = api.post(f"/v1/audiences/{audience_id}/build", key=key)
    assert r.status == 202, r.json
    drain()
    got = api.get(f"/v1/audiences/{audience_id}", key=key)
    assert got.status == 200
    return got.json


def members(api, key, audience_id) -> list[str]:
    r = api.get(f"/v1/audiences/{audience_id}/members?limit=1000", key=key)
    assert r.status == 200, r.json
    return r.json["items"]


def test_a_phone_list_in_national_formats_is_matched_through_the_phone_index(api, new_workspace, drain):
    ws = new_workspace(default_region="CN")
    key = ws.admin_key
    for user, phone in [("p1", "+8613800138000"), ("p2", "+8613900139000"), ("p3", "+14155552671")]:
        assert api.put(f"/v1/profiles/{user}", {"phone": phone}, key=key).status in (200, 201)
    audience_id = upload_audience(api, key)
    answer = put_file(api, key, audience_id,
                      b"phone\n138 0013 8000\r\n+86 139-0013-9000\n13800138000\n\nnonsense\n13700137000\n")
    assert answer["url"].startswith("https://") and f"{ws.id}/audiences/{audience_id}/" in answer["url"]

    audience = build(api, key, audience_id, drain)

    assert audience["status"] == "ready" and audience["size"] == 2, audience
    assert audience["upload"] == {"rows": 5, "matched": 2, "unmatched": 1, "malformed": 1, "duplicates": 1,
                                  "bad_lines": [6]}
    assert members(api, key, audience_id) == ["p1", "p2"]


def test_emails_match_in_any_case(api, workspace, drain):
    key = workspace.admin_key
    api.put("/v1/profiles/e1", {"email": "Ann@Example.com"}, key=key)
    api.put("/v1/profiles/e2", {"email": "bob@example.com"}, key=key)
    audience_id = upload_audience(api, key, "email")
    put_file(api, key, audience_id, b"Email\nANN@EXAMPLE.COM\nann@example.com\ncarol@example.com\n@nope\n")

    audience = build(api, key, audience_id, drain)

    assert members(api, key, audience_id) == ["e1"]
    assert audience["upload"] == {"rows": 4, "matched": 1, "unmatched": 1, "malformed": 1, "duplicates": 1,
                                  "bad_lines": [5]}


def test_a_50000_line_user_id_file_is_streamed_deduped_and_counted(api, workspace, drain):
    key = workspace.admin_key
    known = [f"u{n:05d}" for n in range(0, 50_000, 250)]  # 200 profiles among the ids
    for user in known:
        api.put(f"/v1/profiles/{user}", {"attributes": {"n": 1}}, key=key)
    lines = ["user_id"] + [f"u{n:05d}" for n in range(49_990)] + ["u00000", "u00250", "", "   "] + \
            [f"u{n:05d}" for n in range(49_990, 50_000)] + ["bad\x01id"]
    audience_id = upload_audience(api, key, "user_id")
    put_file(api, key, audience_id, "\n".join(lines).encode())

    audience = build(api, key, audience_id, drain)

    assert audience["status"] == "ready" and audience["size"] == 200
    assert audience["upload"] == {"rows": 50_003, "matched": 200, "unmatched": 49_800, "malformed": 1,
                                  "duplicates": 2, "bad_lines": [len(lines)]}
    assert members(api, key, audience_id) == known


def test_a_file_that_is_not_csv_fails_the_snapshot_with_a_reason(api, workspace, drain):
    key = workspace.admin_key
    audience_id = upload_audience(api, key, "email")
    put_file(api, key, audience_id, PNG)

    audience = build(api, key, audience_id, drain)

    assert audience["status"] == "failed" and "PNG image" in audience["reason"], audience
    assert audience["snapshot"] is None


def test_a_build_before_the_file_is_there_is_refused(api, workspace):
    key = workspace.admin_key
    audience_id = upload_audience(api, key)
    r = api.post(f"/v1/audiences/{audience_id}/build", key=key)
    assert r.status == 409 and r.json["code"] == "no_upload"
    assert api.post(f"/v1/audiences/{audience_id}/upload-url", key=key).status == 200
    r = api.post(f"/v1/audiences/{audience_id}/build", key=key)  # a URL, but nothing PUT yet
    assert r.status == 409 and r.json["code"] == "no_upload"
    assert api.get(f"/v1/audiences/{audience_id}", key=key).json["status"] == "awaiting_upload"


def test_only_upload_audiences_take_a_file_and_a_bad_upload_source_is_a_400(api, workspace, drain):
    key = workspace.admin_key
    r = api.post("/v1/audiences", {"name": "all", "source": {"type": "rules"}}, key=key)
    drain()
    r = api.post(f"/v1/audiences/{r.json['id']}/upload-url", key=key)
    assert r.status == 409 and r.json["code"] == "not_an_upload"
    r = api.post("/v1/audiences", {"name": "x", "source": {"type": "upload", "id_type": "wechat"}}, key=key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "source.id_type"
    r = api.post("/v1/audiences", {"name": "x", "source": {"type": "upload", "id_type": "user_id",
                                                            "encrypted": True}}, key=key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "source.encrypted"


def test_a_refresh_reads_the_newest_upload(api, workspace, drain):
    key = workspace.admin_key
    for user in ("r1", "r2"):
        api.put(f"/v1/profiles/{user}", {"attributes": {"n": 1}}, key=key)
    audience_id = upload_audience(api, key, "user_id")
    put_file(api, key, audience_id, b"r1\n")
    assert build(api, key, audience_id, drain)["size"] == 1
    put_file(api, key, audience_id, b"r1\nr2\n")

    assert api.post(f"/v1/audiences/{audience_id}/refresh", key=key).status == 202
    drain()

    assert members(api, key, audience_id) == ["r1", "r2"]
    r = api.get(f"/v1/audiences?type=upload&status=ready", key=key)
    assert [a["id"] for a in r.json["items"]] == [audience_id]


def test_the_default_region_is_a_validated_workspace_setting(api, workspace):
    key = workspace.admin_key
    r = api.patch("/v1/workspace", {"default_region": "XX"}, key=key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "default_region"
    r = api.patch("/v1/workspace", {"default_region": "US"}, key=key)
    assert r.status == 200 and r.json["default_region"] == "US"
    assert api.get("/v1/workspace", key=key).json["default_region"] == "US"


def test_the_audience_key_is_stored_and_never_returned_when_given(api, workspace):
    admin, operator = workspace.admin_key, workspace.key("operator")
    given = base64.b64encode(b"k" * 32).decode()
    r = api.put("/v1/workspace/audience-key", {"key": given}, key=admin)
    assert r.status == 200 and r.json["generated"] is False and r.json.get("key") is None
    assert given not in json.dumps(r.json)
    assert crypto.read_keys(workspace.id) == [b"k" * 32]
    assert api.put("/v1/workspace/audience-key", {"key": "c2hvcnQ="}, key=admin).status == 400
    assert api.put("/v1/workspace/audience-key", {}, key=operator).status == 403

    rotated = api.put("/v1/workspace/audience-key", {}, key=admin)

    assert rotated.status == 200 and rotated.json["generated"] is True
    new = base64.b64decode(rotated.json["key"])
    assert crypto.read_keys(workspace.id) == [new, b"k" * 32]  # the previous key still decrypts


def test_encrypted_emails_are_matched_and_never_stored_or_logged_in_clear(api, workspace, drain, log_stream, capfd):
    key = workspace.admin_key
    api.put("/v1/profiles/c1", {"email": "secret.alice@example.com"}, key=key)
    api.put("/v1/profiles/c2", {"email": "secret.bob@example.com"}, key=key)
    aes = base64.b64decode(api.put("/v1/workspace/audience-key", {}, key=key).json["key"])
    plain = ["Secret.Alice@Example.com", "secret.bob@example.com", "secret.nobody@example.com"]
    cells = [crypto.encrypt(aes, p) for p in plain] + [crypto.encrypt(crypto.new_key(), "secret.carol@example.com"),
                                                       "bm90IGEgY2lwaGVydGV4dA=="]
    audience_id = upload_audience(api, key, "email", encrypted=True)
    put_file(api, key, audience_id, "\n".join(cells).encode())
    capfd.readouterr()

    audience = build(api, key, audience_id, drain)

    assert audience["size"] == 2 and members(api, key, audience_id) == ["c1", "c2"]
    assert audience["upload"] == {"rows": 5, "matched": 2, "unmatched": 1, "malformed": 2, "duplicates": 0,
                                  "bad_lines": [4, 5]}
    out, err = capfd.readouterr()
    logged = log_stream.getvalue() + out + err
    assert "audience upload read" in logged  # the build did log
    assert "secret." not in logged.lower()
    snapshot = audience["snapshot"]["id"]
    assert [page for page in repo.iter_pages(workspace.id, snapshot)] == [["c1", "c2"]]
    stored = aws.dynamodb().scan(TableName=settings.table("audiences"), FilterExpression="begins_with(pk, :ws)",
                                 ExpressionAttributeValues={":ws": {"S": workspace.id + "#"}})["Items"]
    assert stored and "secret." not in json.dumps(stored, default=str).lower()


def test_an_encrypted_list_without_a_workspace_key_fails_with_a_reason(api, workspace, drain):
    key = workspace.admin_key
    audience_id = upload_audience(api, key, "phone", encrypted=True)
    put_file(api, key, audience_id, b"AAAA\n")

    audience = build(api, key, audience_id, drain)

    assert audience["status"] == "failed" and "audience-key" in audience["reason"]


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(api, workspace, monkeypatch):
    from chalicelib.audiences import upload_build

    key = workspace.admin_key
    audience_id = upload_audience(api, key, "user_id")
    put_file(api, key, audience_id, b"u1\nu2\nu3\n")
    monkeypatch.setattr(upload_build, "MAX_OBJECT_BYTES", 8)

    r = api.post(f"/v1/audiences/{audience_id}/build", key=key)

    assert r.status == 409 and r.json["code"] == "file_too_large"


def test_an_upload_source_cannot_be_estimated(api, workspace):
    r = api.post("/v1/audiences/estimate", {"source": {"type": "upload", "id_type": "phone"}}, key=workspace.admin_key)
    assert r.status == 400 and r.json["errors"][0]["field"] == "source.type"
