"""Public unsubscribe links: a page on GET, RFC 8058 one-click on POST, 404 for anything forged."""
from __future__ import annotations

from datetime import datetime, timezone

from chalicelib.sending import repo_fatigue, unsubscribe
from chalicelib.sending.admission import admit_batch
from chalicelib.sending.fatigue import Drop
from chalicelib.sending.repo_fatigue import Recipient
from chalicelib.sending.unsubscribe import Subscription

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def token_for(workspace_id: str, address: str = "Ann@Example.com", channel: str = "email") -> str:
    return unsubscribe.sign(Subscription(workspace_id, channel, address, "ann"), unsubscribe.signing_key())


def test_the_link_page_asks_and_changes_nothing(api, workspace):
    r = api.get(f"/u/{token_for(workspace.id)}")

    assert r.status == 200 and r.content_type.startswith("text/html")
    assert b"A***@Example.com" in r.body and b"<form method=\"post\">" in r.body
    assert repo_fatigue.suppression(workspace.id, "email", "ann@example.com") is None


def test_a_one_click_post_puts_the_address_on_the_suppression_list(api, workspace):
    r = api.post(f"/u/{token_for(workspace.id)}", raw=b"List-Unsubscribe=One-Click", headers=FORM)

    assert r.status == 200, r.body
    found = repo_fatigue.suppression(workspace.id, "email", "ANN@example.com")
    assert found is not None and found.reasons == {"unsubscribe"}


def test_after_unsubscribing_the_next_message_to_the_address_is_dropped(api, workspace):
    api.post(f"/u/{token_for(workspace.id)}", raw=b"List-Unsubscribe=One-Click", headers=FORM)

    decision = admit_batch(workspace.id, "UTC", {}, [Recipient("m1", "ann", "email", "ann@example.com")],
                           datetime(2026, 11, 26, tzinfo=timezone.utc))["m1"]

    assert isinstance(decision, Drop) and decision.status == "dropped_suppressed"


def test_a_post_is_idempotent_and_takes_any_form_body(api, workspace):
    token = token_for(workspace.id, "+86 138 0013 8000", "sms")
    for body, headers in ((b"List-Unsubscribe=One-Click", FORM), (b"", {"Content-Type": "text/plain"}),
                          (b"{}", {"Content-Type": "application/json"})):
        assert api.post(f"/u/{token}", raw=body, headers=headers).status == 200

    found = repo_fatigue.suppression(workspace.id, "sms", "+8613800138000")
    assert found is not None and found.reasons == {"unsubscribe"}


def test_a_bad_token_is_a_404_that_does_not_say_why(api, workspace):
    good = token_for(workspace.id)
    forged = unsubscribe.sign(Subscription(workspace.id, "email", "ann@example.com", "ann"), b"guessed key")
    altered = good[:-1] + ("A" if good[-1] != "A" else "B")

    replies = [api.get(f"/u/{t}") for t in (forged, altered, "nonsense", "v1.a.b")]
    replies += [api.post(f"/u/{t}", raw=b"List-Unsubscribe=One-Click", headers=FORM) for t in (forged, altered)]

    assert {r.status for r in replies} == {404}
    assert {r.json["detail"] for r in replies} == {"this unsubscribe link is not valid"}
    assert repo_fatigue.suppression(workspace.id, "email", "ann@example.com") is None


def test_the_link_needs_no_api_key_and_the_page_escapes_what_it_shows(api, workspace):
    token = token_for(workspace.id, address="<b>x</b>@example.com")

    r = api.get(f"/u/{token}")

    assert r.status == 200 and b"<b>" not in r.body and b"&lt;***@example.com" in r.body


def test_email_links_carry_the_one_click_headers(workspace):
    url = unsubscribe.link_for(Subscription(workspace.id, "email", "ann@example.com", "ann"))
    headers = unsubscribe.email_headers(url)

    assert headers["List-Unsubscribe"] == f"<{url}>" and "/u/v1." in url
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
