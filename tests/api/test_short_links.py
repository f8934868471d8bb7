"""Short links: made through the API or per recipient while rendering; the public redirect
counts clicks, and a per-recipient click reaches the user's profile as a link_clicked event."""
from __future__ import annotations

import uuid
from urllib.parse import quote
from datetime import datetime, timezone

import pytest

from chalicelib import clock
from chalicelib.config import settings
from chalicelib.links import service as links
from chalicelib.models.channels import ShortLinkItem
from chalicelib.sending import rendering
from chalicelib.sending.queue import SendMessage
from chalicelib.sending.sender import Job
from tests.handlers.test_sender import invoke, record, send_body

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


def make(api, key, url="https://shop.example/p/1?ref=mail"):
    r = api.post("/v1/short-links", {"url": url}, key=key)
    assert r.status == 201, r.json
    return r.json


def test_a_short_link_redirects_to_its_target_and_counts_each_click(api, workspace):
    link = make(api, workspace.key("operator"))

    assert link["short_url"] == f"{settings.public_base_url}/s/{link['code']}"
    assert len(link["code"]) == 8 and link["code"].isalnum()
    for _ in range(2):
        r = api.get(f"/s/{link['code']}")
        assert r.status == 302 and r.headers["Location"] == "https://shop.example/p/1?ref=mail"
        assert r.headers["Cache-Control"] == "no-store"
    read = api.get(f"/v1/short-links/{link['code']}", key=workspace.key("viewer")).json
    assert read["clicks"] == 2 and read["first_clicked_at"]


def test_a_non_ascii_target_is_stored_percent_encoded(api, workspace):
    link = make(api, workspace.admin_key, "https://例え.jp/商品?名=値")

    assert link["url"] == f"https://xn--r8jz45g.jp/{quote('商品')}?{quote('名')}={quote('値')}"
    assert api.get(f"/s/{link['code']}").headers["Location"] == link["url"]


@pytest.mark.parametrize("url", [
    "ftp://shop.example/x", "javascript:alert(1)", "https://", "shop.example/x", "https://shop.example/a b",
    "https://shop.example/" + "x" * 2100, "", 42, None,
])
def test_a_target_that_is_not_a_storable_web_url_is_a_400_naming_the_field(api, workspace, url):
    r = api.post("/v1/short-links", {"url": url}, key=workspace.admin_key)

    assert r.status == 400, r.json
    assert r.json["errors"][0]["field"] == "url"


@pytest.mark.parametrize("code", ["Nope1234", "no-such", "x" * 300, "%F0%9F%98%80"])
def test_an_unknown_code_is_a_404_problem(api, code):
    r = api.get(f"/s/{code}")

    assert r.status == 404 and r.content_type == "application/problem+json"


def test_another_workspace_cannot_read_a_link(api, workspace, new_workspace):
    link = make(api, workspace.admin_key)
    other = new_workspace("Other")

    assert api.get(f"/v1/short-links/{link['code']}", key=other.admin_key).status == 404


# --- per-recipient links ----------------------------------------------------------------------

TEMPLATE = {"channel": "sms", "name": "sale",
            "body": "Hi {{ profile.user_id }}: {{ \"https://shop.example/sale\" | short_link }} "
                    "{{ \"https://shop.example/p/\" | append: profile.attributes.sku | short_link }}"}


@pytest.fixture
def now(monkeypatch):
    monkeypatch.setattr(clock, "now", lambda: START)
    return START


@pytest.fixture
def approved_template(api, workspace):
    admin = workspace.admin_key
    for user, sku in (("ann", "A1"), ("bob", "B2")):
        api.put(f"/v1/profiles/{user}", {"attributes": {"sku": sku}}, key=admin)
    tid = api.post("/v1/templates", TEMPLATE, key=admin).json["id"]
    assert api.post(f"/v1/templates/{tid}/approve", key=admin).status == 200
    return tid


def jobs_for(workspace_id: str, tid: str, task: str, *users: str) -> list[Job]:
    message = SendMessage.model_validate({**send_body(workspace_id, *users, kind="sandbox", task_id=task),
                                          "template_id": tid})
    return [Job("r1", 1, message, recipient) for recipient in message.recipients]


def codes_in(body: str) -> list[str]:
    return [word.rsplit("/s/", 1)[1] for word in body.split() if "/s/" in word]


def test_each_recipient_gets_their_own_links_and_a_re_render_makes_the_same_ones_once(
        app, workspace, approved_template, now):
    task = "tsk_" + uuid.uuid4().hex[:8]
    jobs = jobs_for(workspace.id, approved_template, task, "ann", "bob")

    first = rendering.render_jobs(jobs, now)
    again = rendering.render_jobs(jobs, now)

    ann, bob = (first[job.key]["body"] for job in jobs)
    assert again[jobs[0].key]["body"] == ann and again[jobs[1].key]["body"] == bob
    ann_codes, bob_codes = codes_in(ann), codes_in(bob)
    assert len(set(ann_codes + bob_codes)) == 4 and all(len(c) == 12 for c in ann_codes + bob_codes)
    sale, product = (ShortLinkItem.get(f"link#{c}", "link") for c in ann_codes)
    assert (sale.url, product.url) == ("https://shop.example/sale", "https://shop.example/p/A1")
    assert sale.user_id == "ann" and sale.task_id == task and sale.message_key == str(jobs[0].key)
    assert sale.workspace_id == workspace.id and sale.clicks == 0


def test_a_click_on_a_recipients_link_is_counted_once_as_unique_and_lands_on_their_profile_as_an_event(
        app, api, workspace, approved_template, now, drain, monkeypatch):
    task = "tsk_" + uuid.uuid4().hex[:8]
    invoke(app, record({**send_body(workspace.id, "ann", kind="sandbox", task_id=task),
                        "template_id": approved_template}))
    [job] = jobs_for(workspace.id, approved_template, task, "ann")
    sale_code = codes_in(rendering.render_jobs([job], now)[job.key]["body"])[0]
    handed_on: list[links.Click] = []
    real = links.on_click
    monkeypatch.setattr(links, "on_click", lambda click: (handed_on.append(click), real(click)))

    assert api.get(f"/s/{sale_code}").headers["Location"] == "https://shop.example/sale"
    assert api.get(f"/s/{sale_code}").status == 302
    drain()

    assert [(c.unique, c.clicks) for c in handed_on] == [(True, 1), (False, 2)]
    assert handed_on[0].user_id == "ann" and handed_on[0].message_key == str(job.key)
    events = api.get("/v1/profiles/ann/events?name=link_clicked", key=workspace.admin_key).json["items"]
    assert len(events) == 2
    props = next(e for e in events if e["properties"]["unique"])["properties"]
    assert props == {"url": "https://shop.example/sale", "code": sale_code, "message_key": str(job.key),
                     "task_id": task, "unique": True}


def test_a_link_the_template_builds_that_is_not_a_web_url_fails_that_recipient_with_the_reason(
        app, api, workspace, now):
    admin = workspace.admin_key
    api.put("/v1/profiles/eve", {"attributes": {"site": "ftp://files.example"}}, key=admin)
    body = {"channel": "sms", "name": "bad", "body": "{{ profile.attributes.site | short_link }}"}
    tid = api.post("/v1/templates", body, key=admin).json["id"]
    api.post(f"/v1/templates/{tid}/approve", key=admin)
    [job] = jobs_for(workspace.id, tid, "tsk_x", "eve")

    failed = rendering.render_jobs([job], now)[job.key]

    assert isinstance(failed, rendering.Failed) and "short_link takes an http or https URL" in failed.reason


def test_a_preview_shows_links_as_written(api, workspace, approved_template):
    r = api.post(f"/v1/templates/{approved_template}/preview", {"user_id": "ann"}, key=workspace.admin_key)

    assert r.json["rendered"]["body"] == "Hi ann: https://shop.example/sale https://shop.example/p/A1"
