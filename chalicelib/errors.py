"""Error types and their one problem+json rendering (RFC 9457)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PROBLEM_CONTENT_TYPE = "application/problem+json"
_TITLES = {
    400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Content Too Large",
    415: "Unsupported Media Type", 429: "Too Many Requests", 500: "Internal Server Error",
    503: "Service Unavailable",
}


@dataclass
class FieldError:
    field: str
    message: str


class AppError(Exception):
    status = 500
    code = "internal_error"
    retry_after: int | None = None  # seconds; rendered as a Retry-After header when set

    def __init__(self, detail: str = "", *, errors: list[FieldError] | None = None, code: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []
        if code:
            self.code = code

    def to_problem(self) -> dict[str, Any]:
        return problem(self.status, self.code, self.detail, self.errors)


class Invalid(AppError):
    status = 400
    code = "validation_error"

    def __init__(self, field: str | None = None, message: str = "", *, errors: list[FieldError] | None = None):
        errs = errors if errors is not None else [FieldError(field or "body", message)]
        detail = "; ".join(f"{e.field}: {e.message}" for e in errs[:5])
        super().__init__(detail, errors=errs)


class Unauthorized(AppError):
    status = 401
    code = "unauthorized"


class Forbidden(AppError):
    status = 403
    code = "forbidden"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"

    def __init__(self, code: str, detail: str):
        super().__init__(detail, code=code)


class Unavailable(AppError):
    """Try again later: AWS throttled us, or a write kept losing races to concurrent writers."""

    status = 503
    code = "unavailable"

    def __init__(self, detail: str = "", *, retry_after: int = 1):
        super().__init__(detail)
        self.retry_after = retry_after


class PayloadTooLarge(AppError):
    status = 413
    code = "payload_too_large"


def problem(status: int, code: str, detail: str = "", errors: list[FieldError] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"https://errors.marketing-automation.dev/{code}",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = [{"field": e.field, "message": e.message} for e in errors]
    return body
