"""Materials: a presigned upload with type and size limits per kind, the check after
upload (size, type, Lottie JSON), the library's list, read and delete, and templates that
name materials in ``media``."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib import aws
from chalicelib.config import settings

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100
LOTTIE = json.dumps({"v": "5.7.4", "fr": 30, "ip": 0, "op": 60, "w": 512, "h": 512, "layers": []}).encode()


def declare(api, key, kind="image", filename="Summer sale: banner 1.png", content_type="image/png", size=len(PNG)):
    return api.post("/v1/materials", {"kind": kind, "filename": filename, "content_type": content_type,
                                      "size": size}, key=key)


def upload(material: dict, data: bytes, content_type: str | None = None) -> None:
    """What the client does with the presigned URL, done with boto3 against moto."""
    aws.s3().put_object(Bucket=settings.bucket("uploads"), Key=object_key(material), Body=data,
                        ContentType=content_type or material["content_type"])


def object_key(material: dict) -> str:
    from chalicelib.materials import repo

    found = repo.get(material["workspace"], material["id"])
    assert found is not None
    return found.object_key


def ready(api, workspace, data=PNG, **declared) -> dict:
    r = declare(api, workspace.admin_key, **declared)
    assert r.status == 201, r.json
    material = {**r.json, "workspace": workspace.id}
    upload(material, data)
    done = api.post(f"/v1/materials/{material['id']}/complete", key=workspace.admin_key)
    assert done.status == 200 and done.json["status"] == "ready", done.json
    return done.json


def test_a_declared_upload_gets_a_presigned_put_that_signs_its_content_type(api, workspace):
    r = declare(api, workspace.key("operator"))

    assert r.status == 201, r.json
    m = r.json
    assert m["status"] == "uploading" and m["kind"] == "image" and m["size"] == len(PNG)
    assert m["upload"]["method"] == "PUT" and m["upload"]["headers"] == {"Content-Type": "image/png",
                                                                      "Content-Length": str(len(PNG))}
    url = urlsplit(m["upload"]["url"])
    assert url.path.endswith(f"/{workspace.id}/materials/{m['id']}/Summer_sale_banner_1.png")
    signed = parse_qs(url.query)["X-Amz-SignedHeaders"][0].split(";")
    assert {"content-type", "content-length"} <= set(signed)


@pytest.mark.parametrize("body, field", [
    ({"kind": "image", "filename": "a.svg", "content_type": "image/svg+xml", "size": 10}, "content_type"),
    ({"kind": "image", "filename": "a.png", "content_type": "image/png", "size": 10 * 1024 * 1024 + 1}, "size"),
    ({"kind": "video", "filename": "a.mp4", "content_type": "video/mp4", "size": 17 * 1024 * 1024}, "size"),
    ({"kind": "lottie", "filename": "a.json", "content_type": "image/png", "size": 10}, "content_type"),
    ({"kind": "gif", "filename": "a.gif", "content_type": "image/gif", "size": 10}, "kind"),
    ({"kind": "image", "filename": "a.png", "content_type": "image/png", "size": "10"}, "size"),
    ({"kind": "image", "filename": "a.png", "content_type": "image/png", "size": 0}, "size"),
    ({"kind": "image", "filename": "../../x", "content_type": "image/png", "size": 10}, "filename"),
])
def test_a_type_or_size_outside_the_kinds_limits_is_a_400_naming_the_field(api, workspace, body, field):
    r = api.post("/v1/materials", body, key=workspace.admin_key)

    assert r.status == 400, r.json
    assert r.json["errors"][0]["field"] == field


def test_complete_before_the_upload_is_a_409_and_after_it_the_material_is_ready_with_a_download_url(api, workspace):
    m = {**declare(api, workspace.admin_key).json, "workspace": workspace.id}
    early = api.post(f"/v1/materials/{m['id']}/complete", key=workspace.admin_key)
    assert early.status == 409 and early.json["code"] == "not_uploaded"

    upload(m, PNG)
    done = api.post(f"/v1/materials/{m['id']}/complete", key=workspace.admin_key)

    assert done.status == 200 and done.json["status"] == "ready" and done.json["download_url"]
    assert api.post(f"/v1/materials/{m['id']}/complete", key=workspace.admin_key).json["status"] == "ready"


@pytest.mark.parametrize("data, content_type, reason", [
    (PNG + b"more", "image/png", f"has {len(PNG) + 4} bytes, not the {len(PNG)} declared"),
    (PNG, "image/gif", "uploaded as image/gif, not image/png"),
])
def test_a_file_other_than_the_one_declared_is_rejected_and_deleted(api, workspace, data, content_type, reason):
    m = {**declare(api, workspace.admin_key).json, "workspace": workspace.id}
    upload(m, data, content_type)
    key = object_key(m)

    done = api.post(f"/v1/materials/{m['id']}/complete", key=workspace.admin_key).json

    assert done["status"] == "rejected" and reason in done["reason"]
    assert aws.s3().list_objects_v2(Bucket=settings.bucket("uploads"), Prefix=key)["KeyCount"] == 0


@pytest.mark.parametrize("data, reason", [
    (LOTTIE, None),
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "a Lottie file is a JSON object"),
    (json.dumps({"v": "5.7.4", "fr": 30, "layers": []}).encode(), "lacks ip, op, w, h"),
    (json.dumps({"v": "5", "fr": "30", "ip": 0, "op": 1, "w": 1, "h": 1, "layers": []}).encode(), "fr must be"),
    (json.dumps({"v": "5", "fr": 30, "ip": 0, "op": 1, "w": 1, "h": 1, "layers": {}}).encode(), "layers must be a list"),
])
def test_a_lottie_file_is_read_and_must_be_json_with_lotties_top_level_keys(api, workspace, data, reason):
    m = {**declare(api, workspace.admin_key, kind="lottie", filename="wave.json", content_type="application/json",
                   size=len(data)).json, "workspace": workspace.id}
    upload(m, data)

    done = api.post(f"/v1/materials/{m['id']}/complete", key=workspace.admin_key).json

    if reason is None:
        assert done["status"] == "ready"
    else:
        assert done["status"] == "rejected" and reason in done["reason"]


def test_the_library_lists_in_upload_order_filters_by_kind_and_status_and_pages(api, workspace):
    image = ready(api, workspace)
    lottie = ready(api, workspace, LOTTIE, kind="lottie", filename="a.json", content_type="application/json",
                   size=len(LOTTIE))
    pending = declare(api, workspace.admin_key).json
    key = workspace.key("viewer")

    first = api.get("/v1/materials?limit=2", key=key).json
    rest = api.get(f"/v1/materials?limit=2&cursor={first['next_cursor']}", key=key).json
    assert [m["id"] for m in first["items"] + rest["items"]] == [image["id"], lottie["id"], pending["id"]]
    assert [m["id"] for m in api.get("/v1/materials?kind=lottie", key=key).json["items"]] == [lottie["id"]]
    assert [m["id"] for m in api.get("/v1/materials?status=uploading", key=key).json["items"]] == [pending["id"]]
    assert api.get("/v1/materials?kind=gif", key=key).status == 400


def test_delete_removes_the_file_and_is_refused_while_an_approved_template_names_the_material(api, workspace):
    admin = workspace.admin_key
    m = ready(api, workspace)
    key = object_key({**m, "workspace": workspace.id})
    t = api.post("/v1/templates", {"channel": "push", "name": "p", "title": "Sale", "body": "Now",
                                    "media": [m["id"]]}, key=admin)
    assert t.status == 201, t.json
    assert api.post(f"/v1/templates/{t.json['id']}/approve", key=admin).status == 200

    refused = api.delete(f"/v1/materials/{m['id']}", key=admin)
    assert refused.status == 409 and refused.json["code"] == "in_use" and t.json["id"] in refused.json["detail"]

    assert api.delete(f"/v1/templates/{t.json['id']}", key=admin).status == 204
    assert api.delete(f"/v1/materials/{m['id']}", key=admin).status == 204
    assert api.get(f"/v1/materials/{m['id']}", key=admin).status == 404
    assert aws.s3().list_objects_v2(Bucket=settings.bucket("uploads"), Prefix=key)["KeyCount"] == 0


def test_a_template_naming_a_missing_or_unready_material_is_refused(api, workspace):
    admin = workspace.admin_key
    pending = declare(api, admin).json
    body = {"channel": "sms", "name": "card", "body": "Hi", "media": ["mat0000000000000000", pending["id"]]}

    r = api.post("/v1/templates", body, key=admin)

    assert r.status == 400
    assert [e["field"] for e in r.json["errors"]] == ["media[0]", "media[1]"]
    assert "is uploading, not ready" in r.json["errors"][1]["message"]
