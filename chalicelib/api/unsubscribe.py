"""Public unsubscribe links: ``GET /u/{token}`` shows a page with a button (mail scanners
follow links, so a GET changes nothing), ``POST /u/{token}`` is RFC 8058's one-click
unsubscribe (the mail client's POST, or the page's button). A bad token is a 404 that
does not say why."""
from __future__ import annotations

import html

from chalice import Blueprint
from chalice import Response as ChaliceResponse

from chalicelib import clock
from chalicelib.api.http import endpoint
from chalicelib.sending import opt_out

bp = Blueprint(__name__)
# RFC 8058 clients POST a form (urlencoded or multipart); the page's button posts a form too.
FORMS = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain", "application/json"]


def _masked(address: str) -> str:
    name, at, domain = address.partition("@")
    if at:
        return f"{name[:1]}***@{domain}"
    return f"***{address[-4:]}" if len(address) > 4 else "***"


def _page(title: str, body: str) -> ChaliceResponse:
    text = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{title}</title>"
            f"<meta name=\"viewport\" content=\"width=device-width\"></head><body><h1>{title}</h1>{body}</body></html>")
    return ChaliceResponse(body=text, status_code=200, headers={
        "Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})


@endpoint(bp, "/u/{token}", "GET", public=True)
def unsubscribe_page(token: str) -> ChaliceResponse:
    """The unsubscribe page of a signed link (changes nothing)."""
    subscription = opt_out.subscription(token)
    who = html.escape(_masked(subscription.address))
    channel = html.escape(subscription.channel)
    return _page("Unsubscribe", f"<p>Stop {channel} messages to {who}?</p>"
                 f"<form method=\"post\"><input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">"
                 f"<button type=\"submit\">Unsubscribe</button></form>")


@endpoint(bp, "/u/{token}", "POST", public=True, content_types=FORMS)
def unsubscribe_now(token: str) -> ChaliceResponse:
    """One-click unsubscribe (RFC 8058): the address goes on the suppression list."""
    subscription = opt_out.opt_out(token, clock.now())
    who = html.escape(_masked(subscription.address))
    return _page("Unsubscribed", f"<p>{who} will get no more {html.escape(subscription.channel)} messages.</p>")
