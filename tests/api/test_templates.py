"""Templates through the HTTP API: create (pending review), edit, review, preview, list, delete."""
from __future__ import annotations

import threading

import pytest

SMS = {"channel": "sms", "name": "welcome", "body": "Hi {{ profile.attributes.first_name }}, welcome to {{ shop }}",
       "variables": {"shop": "Example Shop"}}
EMAIL = {"channel": "email", "name": "receipt", "subject": "Your order", "html": "<p>{{ event.total }}</p>",
         "text": "Total: {{ event.total }}"}


def create(api, key, body=SMS):
    r = api.post("/v1/templates", body, key=key)
    assert r.status == 201, r.json
    return r.json


def test_a_new_template_waits_for_review_and_reads_back_as_created(api, workspace):
    created = create(api, workspace.admin_key)

    assert created["status"] == "pending_review" and created["version"] == 1
    assert created["id"].startswith("tpl") and created["body"] == SMS["body"] and created["variables"] == {"shop": "Example Shop"}
    got = api.get(f"/v1/templates/{created['id']}", key=workspace.admin_key)
    assert got.status == 200 and got.json == created


@pytest.mark.parametrize("body, field", [
    ({**SMS, "body": "Hi {{ profile.first_name | shout }}"}, "body"),
    ({**SMS, "body": "Hi {{ custom }}"}, "body"),
    ({**SMS, "body": "{% if %}"}, "body"),
    ({**SMS, "channel": "fax"}, "channel"),
    ({"channel": "email", "name": "x", "subject": "s"}, "html"),
    ({**SMS, "extra": 1}, "extra"),
])
def test_templates_that_would_fail_for_everyone_are_refused_naming_the_field(api, workspace, body, field):
    r = api.post("/v1/templates", body, key=workspace.admin_key)

    assert r.status == 400, r.json
    assert r.json["errors"][0]["field"] == field


def test_review_approve_edit_goes_back_to_review_and_reject_needs_a_reason(api, workspace):
    admin, operator = workspace.admin_key, workspace.key("operator")
    t = create(api, operator)
    tid = t["id"]

    assert api.post(f"/v1/templates/{tid}/approve", key=operator).status == 403  # admins review
    approved = api.post(f"/v1/templates/{tid}/approve?version=1", key=admin)
    assert approved.status == 200 and approved.json["status"] == "approved" and approved.json["reviewed_at"]
    assert api.post(f"/v1/templates/{tid}/approve", key=admin).status == 409

    edited = api.put(f"/v1/templates/{tid}", {**SMS, "body": "Hello {{ profile.user_id }}"}, key=operator)
    assert edited.status == 200 and edited.json["status"] == "pending_review" and edited.json["version"] == 2
    stale = api.post(f"/v1/templates/{tid}/approve?version=1", key=admin)
    assert stale.status == 409 and stale.json["code"] == "stale_version"

    assert api.post(f"/v1/templates/{tid}/reject", {"reason": " "}, key=admin).status == 400
    rejected = api.post(f"/v1/templates/{tid}/reject", {"reason": "off-brand"}, key=admin)
    assert rejected.json["status"] == "rejected" and rejected.json["reason"] == "off-brand"


def test_an_edit_cannot_change_the_channel_and_an_unchanged_edit_keeps_the_approval(api, workspace):
    admin = workspace.admin_key
    tid = create(api, admin)["id"]
    api.post(f"/v1/templates/{tid}/approve", key=admin)

    assert api.put(f"/v1/templates/{tid}", EMAIL, key=admin).json["errors"][0]["field"] == "channel"
    again = api.put(f"/v1/templates/{tid}", SMS, key=admin)
    assert again.json["status"] == "approved" and again.json["version"] == 1


def test_an_approval_and_a_rejection_racing_cannot_both_win(api, workspace):
    admin = workspace.admin_key
    for _ in range(5):
        tid = create(api, admin)["id"]
        barrier = threading.Barrier(2)
        answers: list[int] = []

        def review(path: str, body) -> None:
            barrier.wait()
            answers.append(api.post(path, body, key=admin).status)

        threads = [threading.Thread(target=review, args=(f"/v1/templates/{tid}/approve", None)),
                   threading.Thread(target=review, args=(f"/v1/templates/{tid}/reject", {"reason": "no"}))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert sorted(answers) == [200, 409]
        final = api.get(f"/v1/templates/{tid}", key=admin).json
        assert final["status"] in ("approved", "rejected") and final["version"] == 1


def test_preview_renders_for_a_profile_or_says_why_not(api, workspace):
    key = workspace.admin_key
    api.put("/v1/profiles/ann", {"attributes": {"first_name": "Ann"}, "email": "ann@example.com"}, key=key)
    api.put("/v1/profiles/bob", {"attributes": {}}, key=key)
    tid = create(api, key)["id"]

    ok = api.post(f"/v1/templates/{tid}/preview", {"user_id": "ann"}, key=key)
    failing = api.post(f"/v1/templates/{tid}/preview", {"user_id": "bob"}, key=key)

    assert ok.status == 200 and ok.json == {"rendered": {"channel": "sms", "body": "Hi Ann, welcome to Example Shop"},
                                            "errors": []}
    assert failing.json["rendered"] is None and failing.json["errors"][0]["field"] == "body"
    assert "first_name" in failing.json["errors"][0]["message"]
    assert api.post(f"/v1/templates/{tid}/preview", {"user_id": "nobody"}, key=key).status == 404
    email = create(api, key, EMAIL)["id"]
    rendered = api.post(f"/v1/templates/{email}/preview", {"user_id": "ann", "event": {"total": "<b>9</b>"}}, key=key)
    assert rendered.json["rendered"]["html"] == "<p>&lt;b&gt;9&lt;/b&gt;</p>"


def test_templates_list_in_creation_order_with_filters_and_cursor(api, workspace):
    key = workspace.admin_key
    ids = [create(api, key, {**SMS, "name": f"t{n}"})["id"] for n in range(3)]
    email = create(api, key, EMAIL)["id"]
    api.post(f"/v1/templates/{ids[1]}/approve", key=key)

    first = api.get("/v1/templates?limit=2", key=key).json
    rest = api.get(f"/v1/templates?limit=10&cursor={first['next_cursor']}", key=key).json
    assert [t["id"] for t in first["items"] + rest["items"]] == ids + [email]
    assert [t["id"] for t in api.get("/v1/templates?channel=email", key=key).json["items"]] == [email]
    assert [t["id"] for t in api.get("/v1/templates?status=approved", key=key).json["items"]] == [ids[1]]
    assert api.get("/v1/templates?status=sent", key=key).status == 400


def test_delete_and_other_workspaces_are_404s(api, workspace, new_workspace):
    key = workspace.admin_key
    tid = create(api, key)["id"]
    other = new_workspace("Other")

    assert api.get(f"/v1/templates/{tid}", key=other.admin_key).status == 404
    assert api.delete(f"/v1/templates/{tid}", key=other.admin_key).status == 404
    assert api.delete(f"/v1/templates/{tid}", key=key).status == 204
    assert api.get(f"/v1/templates/{tid}", key=key).status == 404
    assert api.delete(f"/v1/templates/{tid}", key=key).status == 404


def test_an_sms_template_carries_the_provider_template_code_and_its_liquid_params(api, workspace):
    """Alibaba Cloud SMS templates: external_id is the TemplateCode, params its variables."""
    key = workspace.admin_key
    made = api.post("/v1/templates", {"channel": "sms", "name": "code", "body": "Your code",
                                      "external_id": "SMS_123456", "signature": "Shop",
                                      "params": {"code": "{{ profile.user_id | upcase }}"}}, key=key)
    assert made.status == 201, made.json
    api.put("/v1/profiles/ann", {"attributes": {}}, key=key)
    preview = api.post(f"/v1/templates/{made.json['id']}/preview", {"user_id": "ann"}, key=key).json["rendered"]
    assert preview["external_id"] == "SMS_123456" and preview["params"] == {"code": "ANN"}
    bad = api.post("/v1/templates", {"channel": "sms", "name": "x", "body": "b", "params": {"code": "{{ nope }}"}},
                   key=key)
    assert bad.status == 400 and bad.json["errors"][0]["field"].startswith("params")
