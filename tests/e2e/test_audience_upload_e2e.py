"""End to end: an id list PUT over real HTTP to the presigned URL the local stack hands out,
built by the stack's audience-jobs consumer."""
from __future__ import annotations

import time
import urllib.request

import pytest


pytestmark = pytest.mark.e2e


def test_an_uploaded_phone_list_becomes_an_audience(stack):
    status, created = stack.call("POST", "/v1/workspaces", {"name": "Uploads", "timezone": "Asia/Shanghai",
                                                            "default_region": "CN"}, key=stack.org_admin_key)
    assert status == 201, created
    key = created["api_key"]["secret"]
    for user, phone in [("s1", "+8613800138000"), ("s2", "+8613900139000")]:
        assert stack.call("PUT", f"/v1/profiles/{user}", {"phone": phone}, key=key)[0] == 200
    status, audience = stack.call("POST", "/v1/audiences", {"name": "store list", "visibility": "public",
                                                            "source": {"type": "upload", "id_type": "phone"}}, key=key)
    assert status == 202 and audience["status"] == "awaiting_upload", audience
    status, target = stack.call("POST", f"/v1/audiences/{audience['id']}/upload-url", key=key)
    assert status == 200, target

    put = urllib.request.Request(target["url"], data=b"phone\n138 0013 8000\n13900139000\n12\n", method="PUT",
                                 headers=target["headers"])
    with urllib.request.urlopen(put, timeout=30) as answer:
        assert answer.status == 200
    assert stack.call("POST", f"/v1/audiences/{audience['id']}/build", key=key)[0] == 202

    deadline = time.monotonic() + 60
    while True:
        status, got = stack.call("GET", f"/v1/audiences/{audience['id']}", key=key)
        if got.get("status") != "building" or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert got["status"] == "ready" and got["size"] == 2, got
    assert got["upload"]["malformed"] == 1 and got["upload"]["bad_lines"] == [4]
    assert stack.call("GET", f"/v1/audiences/{audience['id']}/members", key=key)[1]["items"] == ["s1", "s2"]
