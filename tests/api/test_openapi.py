"""The served OpenAPI document lists every route with its schemas."""
from __future__ import annotations

import re


def test_every_registered_route_is_in_the_openapi_document(api, app):
    doc = api.get("/v1/openapi.json").json
    registered = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}

    assert registered == documented
    assert doc["openapi"].startswith("3.")


def test_operations_name_their_request_and_response_schemas(api):
    doc = api.get("/v1/openapi.json").json
    schemas = doc["components"]["schemas"]
    post_events = doc["paths"]["/v1/events"]["post"]
    ref = post_events["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert ref.split("/")[-1] in schemas
    assert "202" in post_events["responses"] and "400" in post_events["responses"]
    assert post_events["x-required-role"] == "operator"
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == set(re.findall(r"{(\w+)}", path)), (path, method)
            for ref in re.findall(r'"\$ref": "([^"]+)"', str(op).replace("'", '"')):
                assert ref.split("/")[-1] in schemas, ref


def test_list_routes_document_limit_and_cursor(api):
    doc = api.get("/v1/openapi.json").json
    params = {p["name"]: p for p in doc["paths"]["/v1/profiles"]["get"]["parameters"]}
    assert params["limit"]["schema"]["maximum"] == 200
    assert "cursor" in params


def _operations(doc):
    return [(path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()]


def _problem_statuses(op) -> set[int]:
    return {int(status) for status, response in op["responses"].items()
            if "application/problem+json" in response.get("content", {})}


def test_every_operation_lists_the_problems_it_can_answer(api):
    doc = api.get("/v1/openapi.json").json
    for path, method, op in _operations(doc):
        statuses = _problem_statuses(op)
        where = (method.upper(), path)
        assert {405, 429, 503} <= statuses, where
        authenticated = op.get("security") != []
        assert ({401, 403} <= statuses) == authenticated, where
        assert (404 in statuses) == ("{" in path), where
        has_body = "requestBody" in op
        assert ({413, 415} <= statuses) == has_body, where
        if has_body:
            assert 400 in statuses, where
        for status in (429, 503):
            assert "Retry-After" in op["responses"][str(status)]["headers"], where


def test_problems_share_one_schema_with_field_errors(api):
    doc = api.get("/v1/openapi.json").json
    refs = {response["content"]["application/problem+json"]["schema"]["$ref"]
            for _, _, op in _operations(doc) for response in op["responses"].values()
            if "application/problem+json" in response.get("content", {})}
    assert refs == {"#/components/schemas/Problem"}
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "code", "detail", "errors"} <= set(problem["properties"])
    assert problem["properties"]["errors"]["items"]["required"] == ["field", "message"]


def test_204_answers_are_documented_without_content(api):
    doc = api.get("/v1/openapi.json").json
    no_content = [(path, method, op["responses"]["204"]) for path, method, op in _operations(doc) if "204" in op["responses"]]
    assert {(path, method) for path, method, _ in no_content} >= {("/v1/profiles/{user_id}", "delete"),
                                                                  ("/v1/api-keys/{key_id}", "delete")}
    assert all("content" not in response for _, _, response in no_content)


def test_the_public_routes_document_no_auth_problems(api):
    doc = api.get("/v1/openapi.json").json
    health = doc["paths"]["/health"]["get"]
    assert health["security"] == [] and not {401, 403, 400, 404} & _problem_statuses(health)
