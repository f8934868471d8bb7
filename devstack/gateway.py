"""Make Chalice's local gateway answer unknown routes as API Gateway does with our
GatewayResponse (infra/resources.yaml): 404 problem+json instead of 403 "Missing
Authentication Token". Used by the local server and by the tests' chalice.test.Client."""
from __future__ import annotations

import json
import uuid
from typing import Any

from chalice.local import ForbiddenError, LocalGateway

from chalicelib.errors import PROBLEM_CONTENT_TYPE, problem

_installed = False


def not_found_response(method: str, path: str) -> dict[str, Any]:
    body = problem(404, "not_found", f"no route {method} {path.split('?')[0]}")
    headers = {"Content-Type": PROBLEM_CONTENT_TYPE, "X-Request-Id": uuid.uuid4().hex}
    return {"statusCode": 404, "headers": headers, "multiValueHeaders": {},
            "body": json.dumps(body)}


def install() -> None:
    global _installed
    if _installed:
        return
    original = LocalGateway.handle_request

    def handle_request(self: LocalGateway, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return original(self, method, path, headers, body)
        except ForbiddenError as error:
            if b"Missing Authentication Token" in (error.body or b"") or b"Authorization header requires" in (error.body or b""):
                return not_found_response(method, path)
            raise

    LocalGateway.handle_request = handle_request  # type: ignore[method-assign]
    _installed = True
