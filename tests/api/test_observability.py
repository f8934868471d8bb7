"""Structured logs with request and workspace ids; no secret in any log line; X-Ray silent here."""
from __future__ import annotations

import io
import json

import pytest


@pytest.fixture
def log_stream():
    """The JSON log output, at DEBUG, for the duration of a test."""
    from chalicelib import logs

    stream = io.StringIO()
    handler = logs.logger.registered_handler
    previous = handler.setStream(stream)
    logs.logger.setLevel("DEBUG")
    yield stream
    logs.logger.setLevel("WARNING")
    handler.setStream(previous)
    logs.clear()


def test_no_secret_reaches_the_logs(api, workspace, log_stream, monkeypatch):
    from chalicelib import logs
    from chalicelib.tenancy import workspaces

    created = api.post("/v1/api-keys", {"name": "k", "role": "operator"}, key=workspace.admin_key).json
    api.get("/v1/workspace", key=created["secret"])
    api.get("/v1/workspace", key=created["secret"] + "wrong")
    monkeypatch.setattr(workspaces, "get", lambda *a: 1 / 0)
    api.get("/v1/workspace", key=created["secret"])
    logs.logger.info("probe")
    out = log_stream.getvalue()
    assert "probe" in out
    assert created["secret"] not in out and workspace.admin_key not in out
    assert created["secret"].split(".")[-1] not in out


def test_log_lines_are_json_with_request_and_workspace_ids(api, workspace, log_stream, monkeypatch):
    from chalicelib.tenancy import workspaces

    def explode(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(workspaces, "get", explode)
    api.get("/v1/workspace", key=workspace.admin_key)

    lines = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    error = next(line for line in lines if line["message"] == "unhandled error")
    assert error["level"] == "ERROR"
    assert error["workspace_id"] == workspace.id and error["request_id"]
    assert "boom" in error["exception"]


def test_tracing_is_off_outside_lambda():
    from chalicelib import aws

    aws.enable_tracing()
    assert aws._patched is False


def test_tracing_patches_boto3_and_httpx_in_lambda(monkeypatch):
    import aws_xray_sdk.core

    from chalicelib import aws

    patched = []
    monkeypatch.setattr(aws_xray_sdk.core, "patch", lambda modules: patched.append(list(modules)))
    monkeypatch.setattr(aws, "_patched", False)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "api_handler")
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "true")

    aws.enable_tracing()
    aws.enable_tracing()

    assert patched == [["boto3", "httpx"]]


def test_every_request_gets_its_own_request_id_also_in_its_log_lines(api, workspace, log_stream):
    from chalicelib import logs

    first = api.get("/v1/workspace", key=workspace.admin_key)
    logs.logger.info("after the first request")  # the first request's keys are still bound
    second = api.get("/v1/workspace", key=workspace.admin_key)

    ids = [first.headers["X-Request-Id"], second.headers["X-Request-Id"]]
    assert ids[0] != ids[1] and "local" not in ids
    assert all(len(i) >= 16 for i in ids)
    line = next(json.loads(text) for text in log_stream.getvalue().splitlines() if "after the first request" in text)
    assert line["request_id"] == ids[0]


def test_provider_credentials_never_reach_the_logs_even_when_the_request_fails(api, workspace, log_stream, monkeypatch):
    from chalicelib import logs
    from chalicelib.sending import repo_providers

    body = {"channel": "sms", "kind": "aliyun_sms", "settings": {"sign_name": "Shop"},
            "credentials": {"access_key_id": "AKID-visible-nowhere", "access_key_secret": "SECRET-visible-nowhere"}}
    assert api.put("/v1/providers/ali", body, key=workspace.admin_key).status == 200
    monkeypatch.setattr(repo_providers, "put", lambda *a: 1 / 0)
    assert api.put("/v1/providers/ali", body, key=workspace.admin_key).status == 500
    logs.logger.info("probe")

    out = log_stream.getvalue()
    assert "probe" in out and "ZeroDivisionError" in out
    assert "visible-nowhere" not in out
