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
