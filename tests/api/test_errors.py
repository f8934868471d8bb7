"""One problem+json shape for every error, whoever produces it."""
from __future__ import annotations

import pytest

PROBLEM_KEYS = {"type", "title", "status", "code", "detail"}


def assert_problem(reply, status: int, code: str) -> dict:
    assert reply.status == status, reply.body
    assert reply.content_type.startswith("application/problem+json")
    body = reply.json
    assert PROBLEM_KEYS <= set(body) and body["status"] == status and body["code"] == code
    return body


def test_unknown_route_is_a_404_problem(api, workspace):
    assert_problem(api.get("/v1/nothing-here", key=workspace.admin_key), 404, "not_found")
    assert_problem(api.get("/v1/nothing-here"), 404, "not_found")


def test_unsupported_method_is_a_405_problem(api, workspace):
    assert_problem(api.call("PATCH", "/v1/events", {}, key=workspace.admin_key), 405, "method_not_allowed")


def test_malformed_json_is_a_400_naming_the_body(api, workspace):
    body = assert_problem(api.call("PUT", "/v1/profiles/u", raw=b"{not json", key=workspace.admin_key), 400, "validation_error")
    assert body["errors"][0]["field"] == "body"


def test_missing_body_is_a_400(api, workspace):
    body = assert_problem(api.call("POST", "/v1/events", raw=b"", key=workspace.admin_key), 400, "validation_error")
    assert body["errors"][0]["field"] == "body"


def test_a_json_array_body_is_a_400(api, workspace):
    assert_problem(api.call("POST", "/v1/events", raw=b"[]", key=workspace.admin_key), 400, "validation_error")


def test_non_json_content_type_is_a_415_problem(api, workspace):
    reply = api.call("POST", "/v1/events", raw=b"a=b", key=workspace.admin_key,
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(reply, 415, "unsupported_media_type")


def test_oversized_body_is_a_413_and_nothing_is_written(api, workspace, drain):
    from chalicelib.config import settings

    padding = "x" * (settings.max_body_bytes + 1)
    reply = api.post("/v1/events", {"events": [{"user_id": "big", "name": "x", "properties": {"p": padding}}]},
                     key=workspace.admin_key)

    assert_problem(reply, 413, "payload_too_large")
    assert drain() == 0


def test_unknown_fields_are_refused_by_name(api, workspace):
    body = assert_problem(api.put("/v1/profiles/u", {"atributes": {}}, key=workspace.admin_key), 400, "validation_error")
    assert body["errors"] == [{"field": "atributes", "message": "unknown field"}]


def test_an_unexpected_error_is_a_500_problem_without_internals(api, workspace, monkeypatch):
    from chalicelib.tenancy import workspaces

    def explode(*args):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(workspaces, "get", explode)
    body = assert_problem(api.get("/v1/workspace", key=workspace.admin_key), 500, "internal_error")
    assert "secret internals" not in str(body)


@pytest.mark.parametrize("path", ["/health", "/v1/openapi.json"])
def test_public_routes_need_no_key(api, path):
    assert api.get(path).status == 200


def test_every_response_carries_a_request_id(api):
    assert api.get("/health").headers.get("X-Request-Id")


def test_browsers_may_call_the_api_cross_origin(api, app, workspace):
    from chalice.config import Config
    from chalice.local import LocalGateway

    # chalice.test.Client cannot read a preflight's empty body; the local gateway can.
    preflight = LocalGateway(app, Config()).handle_request(
        "OPTIONS", "/v1/profiles", {"origin": "https://console.example.com"}, b"")
    assert preflight["statusCode"] == 200
    assert "Authorization" in preflight["headers"]["Access-Control-Allow-Headers"]
    reply = api.get("/v1/workspace", key=workspace.admin_key)
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Request-Id" in reply.headers["Access-Control-Expose-Headers"]


def test_aws_throttling_is_a_503_problem_with_retry_after(api, workspace, monkeypatch):
    from botocore.exceptions import ClientError

    from chalicelib.tenancy import workspaces

    def throttled(*args):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "GetItem")

    monkeypatch.setattr(workspaces, "get", throttled)
    reply = api.get("/v1/workspace", key=workspace.admin_key)

    assert_problem(reply, 503, "unavailable")
    assert reply.headers["Retry-After"] == "1"


def test_a_204_has_no_content_type_and_no_body(api, workspace):
    created = api.post("/v1/api-keys", {"name": "gone", "role": "viewer"}, key=workspace.admin_key).json

    reply = api.delete(f"/v1/api-keys/{created['id']}", key=workspace.admin_key)

    assert reply.status == 204
    assert reply.content_type == "" and reply.body == b""
    assert reply.headers["X-Request-Id"]


def test_errors_carry_a_request_id_too(api):
    unauthorized = api.get("/v1/workspace", key="mak.nope")
    no_route = api.get("/v1/nothing-here")

    assert unauthorized.status == 401 and unauthorized.headers["X-Request-Id"] != "local"
    assert no_route.status == 404 and no_route.headers.get("X-Request-Id")
