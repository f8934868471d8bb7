"""The OpenAPI 3.1 document, generated from the registered endpoints and their pydantic schemas."""
from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api.http import ENDPOINTS, Endpoint

REF = "#/components/schemas/{model}"
PROBLEM_SCHEMA = {
    "type": "object",
    "required": ["type", "title", "status", "code"],
    "properties": {
        "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
        "code": {"type": "string"}, "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}}}},
    },
}


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
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


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
    if e.response is not None and (e.response, "serialization") in refs:
        ok["content"] = {"application/json": {"schema": refs[(e.response, "serialization")]}}
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    op["responses"] = {str(e.status): ok}
    for status, text in ((400, "invalid input"), (401, "missing or invalid API key"), (403, "role not allowed"),
                         (404, "unknown id"), (409, "state conflict or limit"), (413, "body too large"),
                         (503, "AWS is throttling; retry after Retry-After seconds")):
        if e.public and status in (401, 403):
            continue
        op["responses"][str(status)] = {"description": text, "content": problem}
    return op


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
