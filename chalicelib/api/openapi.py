"""The OpenAPI 3.1 document, generated from the registered endpoints and their pydantic schemas."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import ENDPOINTS, Endpoint
from chalicelib.errors import PROBLEM_CONTENT_TYPE

REF = "#/components/schemas/{model}"
PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An error (RFC 9457 problem details); `code` is stable, `detail` is for people.",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "code": {"type": "string"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {
            "type": "object", "required": ["field", "message"],
            "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}
RETRY_AFTER = {"Retry-After": {"description": "seconds to wait before retrying", "schema": {"type": "integer"}}}


def _models(endpoints: list[Endpoint]) -> list[tuple[type[BaseModel], Any]]:
    wanted: dict[tuple[type[BaseModel], str], None] = {}
    for e in endpoints:
        if e.body is not None:
            wanted[(e.body, "validation")] = None
        if isinstance(e.response, type) and issubclass(e.response, BaseModel):
            wanted[(e.response, "serialization")] = None
    return list(wanted)


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _inline(prop, schema.get("$defs", {}))}
        for name, prop in schema.get("properties", {}).items()
    ]


def _inline(value: Any, defs: dict[str, Any]) -> Any:
    """A query parameter's schema with its local ``$defs`` references (enums) written in
    place: a parameter cannot point into its model's own definitions."""
    if isinstance(value, dict):
        ref = value.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.split("/")[-1]], defs)
        return {k: _inline(v, defs) for k, v in value.items()}
    if isinstance(value, list):
        return [_inline(v, defs) for v in value]
    return value


def _operation(e: Endpoint, refs: dict[Any, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": e.name, "summary": e.summary}
    params = [{"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
              for p in re.findall(r"{(\w+)}", e.path)]
    if e.query is not None:
        params += _query_parameters(e.query)
    if params:
        op["parameters"] = params
    if e.public:
        op["security"] = []
    else:
        op["x-required-role"] = "org_admin" if e.org else (e.role.value if e.role else None)
    if e.body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": refs[(e.body, "validation")]}}}
    ok: dict[str, Any] = {"description": "success"}
    if e.status != 204 and e.response is not None and (e.response, "serialization") in refs:
        ok["content"] = {"application/json": {"schema": refs[(e.response, "serialization")]}}
    op["responses"] = {str(e.status): ok}
    op["responses"].update(_problems(e))
    return op


def _problems(e: Endpoint) -> dict[str, Any]:
    """The problem+json answers an operation can give, by status."""
    path_ids = bool(re.search(r"{\w+}", e.path))
    takes_input = e.body is not None or e.query is not None or path_ids
    can = {
        400: ("invalid input: `errors` names each field", takes_input),
        401: ("missing or invalid API key", not e.public),
        403: ("the key's role may not do this", not e.public),
        404: ("no such resource", path_ids),
        405: ("the path does not have this method", True),
        409: ("state conflict or limit", e.method != "GET"),
        413: ("the body is over the size limit", e.body is not None),
        415: ("the body is not JSON (Content-Type: application/json)", e.body is not None),
        429: ("too many requests; retry after Retry-After seconds", True),
        503: ("the service is busy; retry after Retry-After seconds", True),
    }
    content = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": REF.format(model="Problem")}}}
    responses: dict[str, Any] = {}
    for status, (text, applies) in can.items():
        if applies:
            responses[str(status)] = {"description": text, "content": content}
            if status in (429, 503):
                responses[str(status)]["headers"] = RETRY_AFTER
    return responses


def document() -> dict[str, Any]:
    refs, schemas = models_json_schema(_models(ENDPOINTS), ref_template=REF)
    components = dict(schemas.get("$defs", {}))
    components["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for e in ENDPOINTS:
        paths.setdefault(e.path, {})[e.method.lower()] = _operation(e, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Marketing automation API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"apiKey": []}],
    }
