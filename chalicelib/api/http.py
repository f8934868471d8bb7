"""How a route is declared: auth, body and query parsing, error rendering, OpenAPI metadata.

Every route is registered through ``endpoint`` so that one place authorises, parses the
raw body (never Chalice's ``json_body``, whose errors are not problem+json), renders
every error as problem+json, and records the schemas the OpenAPI document is built from.
"""
from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import unquote

from chalice import Blueprint
from chalice import Response as ChaliceResponse
from pydantic import BaseModel
from pydantic_core import to_jsonable_python

from chalicelib import aws, logs, storable
from chalicelib.errors import PROBLEM_CONTENT_TYPE, AppError, Invalid, Unavailable
from chalicelib.schemas import parse
from chalicelib.tenancy import auth
from chalicelib.tenancy.auth import Principal
from chalicelib.tenancy.schemas import Role

PUBLIC = "public"


@dataclass(frozen=True)
class Endpoint:
    path: str
    method: str
    name: str
    summary: str
    role: Role | None
    org: bool
    public: bool
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: Any
    status: int


ENDPOINTS: list[Endpoint] = []


def json_response(body: Any, status: int = 200, content_type: str = "application/json") -> ChaliceResponse:
    if status == 204:
        return ChaliceResponse(body="", status_code=204, headers={})
    return ChaliceResponse(
        body=json.dumps(body, separators=(",", ":"), default=str),
        status_code=status,
        headers={"Content-Type": content_type},
    )


def problem_response(error: AppError) -> ChaliceResponse:
    response = json_response(error.to_problem(), error.status, PROBLEM_CONTENT_TYPE)
    if error.retry_after is not None:
        response.headers["Retry-After"] = str(error.retry_after)
    return response


_JSON_TROUBLE = {
    "Expecting value": "a value was expected",
    "Expecting ',' delimiter": "a comma was expected",
    "Expecting ':' delimiter": "a colon was expected",
    "Expecting property name enclosed in double quotes": "a key in double quotes was expected",
    "Unterminated string starting at": "a string is not closed",
    "Extra data": "there is more after the JSON value",
    "Invalid control character at": "a string holds a raw control character (write it as an escape)",
    "Invalid \\escape": "a string holds an invalid escape",
    "Invalid \\uXXXX escape": "a string holds an invalid \\u escape",
}
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _read_json(raw: str | bytes | None) -> Any:
    """The body as json.loads parses it; where it is broken, said in words."""
    if not raw:
        raise Invalid("body", "a JSON body is required")
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise Invalid("body", f"the body is not UTF-8 text (bad byte at position {exc.start})") from None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        trouble = _JSON_TROUBLE.get(exc.msg, "the JSON is malformed")
        raise Invalid("body", f"not valid JSON at line {exc.lineno}, column {exc.colno}: {trouble}") from None
    except RecursionError:
        raise Invalid("body", "the JSON nests too deeply") from None
    except ValueError:  # an integer of more than 4300 digits
        raise Invalid("body", "the JSON holds a number with too many digits") from None
    if _SURROGATE_ESCAPE.search(text):
        loc = storable.first_non_unicode(value)
        if loc is not None:
            raise Invalid(storable.render_path(loc), "must be valid Unicode: a \\u escape for half of a "
                          "surrogate pair (\\ud800-\\udfff) must be followed by its other half")
    return value


def _path_parameters(params: dict[str, str]) -> dict[str, str]:
    """Path parameters percent-decoded, here and only here. API Gateway, Chalice's local
    server and chalice.test.Client all pass them as sent (``a%2Fb``, ``50%25``, ``%E5%BC%A0``),
    so decoding once gives the client's value whichever runs the app."""
    decoded = {}
    for name, value in params.items():
        try:
            decoded[name] = unquote(value, errors="strict")
        except UnicodeDecodeError:
            raise Invalid(name, "is not valid UTF-8 once percent-decoded") from None
    return decoded


def _shape(result: Any) -> Any:
    """Models (also inside dicts and lists) as JSON-ready data."""
    return to_jsonable_python(result)


def endpoint(
    bp: Blueprint,
    path: str,
    method: str,
    *,
    role: Role | None = Role.viewer,
    org: bool = False,
    public: bool = False,
    body: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    body_parser: Callable[[Any], Any] | None = None,
    content_types: list[str] | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view ``fn(principal, **path_params, [body=], [query=])`` on ``bp``.
    ``body`` is the body's model (validation and OpenAPI); ``body_parser`` replaces its
    validation where a body is a union the route parses itself (it raises ``Invalid``)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(fn)
        def view(**path_params: str) -> ChaliceResponse:
            request = bp.current_request
            try:
                kwargs: dict[str, Any] = _path_parameters(path_params)
                if not public:
                    principal = auth.authenticate(request.headers.get("authorization"))
                    logs.bind(workspace_id=principal.workspace_id or "org")
                    auth.authorize(principal, role=role, org=org)
                    kwargs["principal"] = principal
                if body is not None:
                    data = _read_json(request.raw_body)
                    kwargs["body"] = body_parser(data) if body_parser else parse(body, data)
                if query is not None:
                    kwargs["query"] = parse(query, dict(request.query_params or {}))
                result = fn(**kwargs)
                if isinstance(result, ChaliceResponse):  # a page, not JSON (public unsubscribe links)
                    return result
                return json_response(_shape(result), status)
            except AppError as error:
                if error.status >= 500:
                    logs.logger.exception("request failed")
                return problem_response(error)
            except Exception as error:  # noqa: BLE001 - the one place an unexpected error becomes a 5xx
                if aws.is_throttling(error):
                    logs.logger.warning("AWS throttled the request", exc_info=True)
                    return problem_response(Unavailable("the service is busy; retry after a second", retry_after=1))
                logs.logger.exception("unhandled error")
                return problem_response(AppError("an internal error occurred; it has been logged"))

        if content_types:
            bp.route(path, methods=[method], content_types=content_types)(view)
        else:
            bp.route(path, methods=[method])(view)
        ENDPOINTS.append(
            Endpoint(
                path=path, method=method.upper(), name=fn.__name__,
                summary=(fn.__doc__ or fn.__name__).strip().splitlines()[0],
                role=None if public or org else role, org=org, public=public,
                body=body, query=query, response=response, status=status,
            )
        )
        return fn

    return decorate


def workspace_of(principal: Principal) -> str:
    assert principal.workspace_id is not None  # authorize() refuses the org key on workspace routes
    return principal.workspace_id
