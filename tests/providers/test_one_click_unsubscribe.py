"""RFC 8058 one-click unsubscribe through the sender: every non-transactional email carries
List-Unsubscribe (its signed link) and List-Unsubscribe-Post, to SES and to an SMTP server;
templates can show the link; a POST to it suppresses the address."""
from __future__ import annotations

import re
from typing import Any

from chalicelib.sending import repo_fatigue
from tests.providers.conftest import message_record, run_sender, send_record
from tests.providers.test_ses import requests, sender_address  # noqa: F401 - fixtures
from tests.providers.test_smtp import FROM, mailbox  # noqa: F401 - fixtures

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
LINK = re.compile(r"^<(https?://[^>]+/u/(v1\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+))>$")


def _ses_account(api: Any, workspace: Any, address: str) -> None:
    assert api.put("/v1/providers/mail", {"channel": "email", "kind": "ses", "settings": {"from_address": address}},
                   key=workspace.admin_key).status == 200


def _send(app: Any, workspace: Any, user: str, to: str, *, transactional: bool = False, task: str = "",
          **extra: Any) -> None:
    record = send_record(workspace.id, "mail", "email", [{"user_id": user, "to": to, "content": {
        "subject": "News", "text": "Hello"}}], task_id=task or f"tsk_{user}")
    if transactional or extra:
        import json
        body = json.loads(record["body"])
        body.update({"transactional": transactional, **extra})
        record["body"] = json.dumps(body)
    assert run_sender(app, record) == {"batchItemFailures": []}


def _headers(request: dict[str, Any]) -> dict[str, str]:
    return {h["Name"]: h["Value"] for h in request["Content"]["Simple"].get("Headers", [])}


def test_a_marketing_email_to_ses_carries_one_click_unsubscribe_and_a_post_to_the_link_suppresses(
        app, api, workspace, sender_address, requests):
    _ses_account(api, workspace, sender_address)

    _send(app, workspace, "ann", "Ann@Example.com")

    [request] = requests
    headers = _headers(request)
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    found = LINK.match(headers["List-Unsubscribe"])
    assert found, headers
    assert message_record(workspace.id, "ann", "tsk_ann").status == "sent"
    assert api.post(f"/u/{found.group(2)}", raw=b"List-Unsubscribe=One-Click", headers=FORM).status == 200
    suppressed = repo_fatigue.suppression(workspace.id, "email", "ann@example.com")
    assert suppressed is not None and suppressed.reasons == {"unsubscribe"}

    _send(app, workspace, "ann", "ann@example.com", task="tsk_later")  # the next message is not sent
    assert len(requests) == 1
    assert message_record(workspace.id, "ann", "tsk_later").status == "dropped_suppressed"


def test_a_transactional_email_carries_no_unsubscribe_headers(app, api, workspace, sender_address, requests):
    _ses_account(api, workspace, sender_address)

    _send(app, workspace, "bob", "bob@example.com", transactional=True)

    [request] = requests
    assert "List-Unsubscribe" not in _headers(request) and "List-Unsubscribe-Post" not in _headers(request)


def test_the_smtp_server_receives_the_one_click_headers(app, api, workspace, mailbox):  # noqa: F811
    box, port = mailbox
    assert api.put("/v1/providers/mail", {"channel": "email", "kind": "smtp", "settings": {
        "host": "127.0.0.1", "port": port, "from_address": FROM, "starttls": False}},
        key=workspace.admin_key).status == 200

    _send(app, workspace, "cy", "cy@example.com")

    received = box.message_to("cy@example.com")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert LINK.match(str(received["List-Unsubscribe"]))


def test_a_template_shows_the_unsubscribe_link_and_review_accepts_it(app, api, workspace, sender_address, requests):
    key = workspace.admin_key
    _ses_account(api, workspace, sender_address)
    api.put("/v1/profiles/dee", {"email": "dee@example.com"}, key=key)
    made = api.post("/v1/templates", {"channel": "email", "name": "news", "subject": "News",
                                      "text": "Bye: {{ message.unsubscribe_url }}"}, key=key)
    assert made.status == 201, made.json
    assert api.post(f"/v1/templates/{made.json['id']}/approve", key=key).status == 200
    record = send_record(workspace.id, "mail", "email", [{"user_id": "dee"}])
    import json
    record["body"] = json.dumps({**json.loads(record["body"]), "template_id": made.json["id"]})

    assert run_sender(app, record) == {"batchItemFailures": []}

    [request] = requests
    text = request["Content"]["Simple"]["Body"]["Text"]["Data"]
    link = LINK.match(_headers(request)["List-Unsubscribe"])
    assert link and text == f"Bye: {link.group(1)}"
