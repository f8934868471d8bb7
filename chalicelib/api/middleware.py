"""HTTP middleware: request ids in logs, the body size limit, and problem+json for
the errors Chalice itself produces (405, 415, its 500) so every error has one shape."""
from __future__ import annotations

import json
import uuid
from typing import Any, Callable

from chalice.app import Request, Response

from chalicelib import logs
from chalicelib.api.http import problem_response
from chalicelib.config import settings
from chalicelib.errors import PROBLEM_CONTENT_TYPE, AppError, PayloadTooLarge, problem

_CHALICE_CODES = {
    400: "bad_request", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    415: "unsupported_media_type", 500: "internal_error",
}


def _body_size(request: Request) -> int:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit():
        return int(declared)
    return len(request.raw_body or b"")


def _as_problem(response: Response) -> Response:
    content_type = str({k.lower(): v for k, v in response.headers.items()}.get("content-type", ""))
    if response.status_code < 400 or content_type.startswith(PROBLEM_CONTENT_TYPE):
        return response
    body = response.body
    if isinstance(body, (str, bytes)):
        try:
            body = json.loads(body)
        except ValueError:
            body = {}
    message = (body.get("Message") or body.get("message") or "") if isinstance(body, dict) else ""
    code = _CHALICE_CODES.get(response.status_code, "error")
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    headers["Content-Type"] = PROBLEM_CONTENT_TYPE
    return Response(body=json.dumps(problem(response.status_code, code, str(message))),
                    status_code=response.status_code, headers=headers)


def http_middleware(request: Request, get_response: Callable[[Request], Response]) -> Response:
    context: dict[str, Any] = request.context or {}
    # API Gateway's id when there is one; Chalice's local gateway and test client give none.
    request_id = str(context.get("requestId") or uuid.uuid4().hex)
    logs.clear()
    logs.bind(request_id=request_id, path=request.path, method=request.method)
    size = _body_size(request)
    if size > settings.max_body_bytes:
        response = problem_response(PayloadTooLarge(
            f"the body has {size} bytes; the limit is {settings.max_body_bytes}", errors=None))
    else:
        try:
            response = _as_problem(get_response(request))
        except AppError as error:
            response = problem_response(error)
    response.headers["X-Request-Id"] = request_id
    return response
