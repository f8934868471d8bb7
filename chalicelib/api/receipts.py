"""Provider callbacks: ``POST /v1/receipts/{provider}?ws=<workspace_id>`` (receipts and
inbound chat messages) and ``GET`` on the same path (the handshakes some providers make).
Public: the provider's signature is the authentication (``receipts.callbacks``)."""
from __future__ import annotations

from urllib.parse import urlencode

from chalice import Blueprint
from chalice import Response as ChaliceResponse

from chalicelib.api.http import endpoint
from chalicelib.errors import Invalid, Unauthorized
from chalicelib.providers.base import Callback, CallbackMalformed, CallbackRejected
from chalicelib.receipts import callbacks

bp = Blueprint(__name__)
# SNS posts text/plain; chat platforms post JSON, forms or XML.
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded", "application/xml", "text/xml"]


def _callback() -> tuple[str, Callback]:
    request = bp.current_request
    query = {k: v for k, v in (request.query_params or {}).items()}
    headers = {k.lower(): v for k, v in request.headers.items()}
    host = headers.get("host", "")
    path = request.context.get("path") or ""
    url = f"https://{host}{path}" + ("?" + urlencode(query) if query else "")
    raw = request.raw_body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    return query.get("ws", ""), Callback(method=request.method, url=url, headers=headers, query=query, body=body)


def _answer(name: str) -> ChaliceResponse:
    workspace_id, callback = _callback()
    try:
        result = callbacks.handle(workspace_id, name, callback)
    except CallbackRejected as error:
        raise Unauthorized(str(error) or "the request's signature does not verify") from None
    except CallbackMalformed as error:
        raise Invalid("body", str(error) or "the request is not in the provider's format") from None
    status, body, content_type = result.reply or (200, "ok", "text/plain")
    return ChaliceResponse(body=body, status_code=status, headers={"Content-Type": content_type})


@endpoint(bp, "/v1/receipts/{provider}", "POST", public=True, content_types=CONTENT_TYPES)
def post_receipts(provider: str) -> ChaliceResponse:
    """A provider reports receipts or inbound messages (signed; 200 once queued)."""
    return _answer(provider)


@endpoint(bp, "/v1/receipts/{provider}", "GET", public=True)
def get_receipts(provider: str) -> ChaliceResponse:
    """A provider's handshake when its callback URL is registered."""
    return _answer(provider)
