"""Provider accounts: settings in DynamoDB, credentials in Secrets Manager, never returned."""
from __future__ import annotations

import json

import pytest

ALIYUN = {"channel": "sms", "kind": "aliyun_sms", "settings": {"sign_name": "Shop"},
          "credentials": {"access_key_id": "LTAI-id", "access_key_secret": "s3cr3t-value"},
          "rate_limit": 50, "batch_size": 100, "cost_per_message": 0.045}


def secret(workspace_id: str, name: str) -> dict:
    from chalicelib import aws
    from chalicelib.sending.repo_providers import secret_id

    return json.loads(aws.secretsmanager().get_secret_value(SecretId=secret_id(workspace_id, name))["SecretString"])


def test_a_provider_keeps_settings_and_its_credentials_never_come_back(api, workspace):
    key = workspace.admin_key

    r = api.put("/v1/providers/ali-main", ALIYUN, key=key)

    assert r.status == 200, r.json
    assert r.json["settings"] == {"sign_name": "Shop"} and r.json["rate_limit"] == 50
    assert r.json["credentials_set"] == ["access_key_id", "access_key_secret"]
    assert r.json["credentials_missing"] == ["callback_token"]  # delivery reports are refused until it is set
    for reply in (r, api.get("/v1/providers/ali-main", key=key), api.get("/v1/providers", key=key)):
        assert "s3cr3t-value" not in reply.body.decode() and "LTAI-id" not in reply.body.decode()
    assert secret(workspace.id, "ali-main") == ALIYUN["credentials"]


def test_credentials_absent_on_a_change_are_kept_and_given_ones_replace(api, workspace):
    key = workspace.admin_key
    api.put("/v1/providers/ali", ALIYUN, key=key)

    changed = api.put("/v1/providers/ali", {**ALIYUN, "credentials": None, "rate_limit": 10}, key=key)
    rotated = api.put("/v1/providers/ali", {**ALIYUN, "credentials": {"access_key_secret": "rotated"}}, key=key)

    assert changed.json["rate_limit"] == 10 and changed.json["credentials_set"] == ["access_key_id", "access_key_secret"]
    assert rotated.status == 200
    assert secret(workspace.id, "ali") == {"access_key_id": "LTAI-id", "access_key_secret": "rotated"}


def test_a_sandbox_needs_no_credentials_and_missing_ones_are_named(api, workspace):
    key = workspace.admin_key
    sandbox = api.put("/v1/providers/sandbox", {"channel": "email", "kind": "sandbox",
                                                 "settings": {"failure_rate": 0.1, "receipt_delay_seconds": 5}}, key=key)
    bare = api.put("/v1/providers/ali2", {**ALIYUN, "credentials": None}, key=key)

    assert sandbox.status == 200 and sandbox.json["credentials_missing"] == []
    assert bare.json["credentials_missing"] == ["access_key_id", "access_key_secret", "callback_token"]


@pytest.mark.parametrize("change, field", [
    ({"kind": "fax"}, "kind"),
    ({"channel": "email"}, "channel"),
    ({"settings": {}}, "settings.sign_name"),
    ({"settings": {"sign_name": "Shop", "colour": "red"}}, "settings.colour"),
    ({"settings": {"sign_name": 5}}, "settings.sign_name"),
    ({"credentials": {"password": "x"}}, "credentials.password"),
    ({"rate_limit": 0}, "rate_limit"),
    ({"rate_limit": "50"}, "rate_limit"),
    ({"endpoint": "ftp://gateway"}, "endpoint"),
])
def test_settings_that_do_not_fit_the_kind_are_400s_naming_the_field(api, workspace, change, field):
    r = api.put("/v1/providers/bad", {**ALIYUN, **change}, key=workspace.admin_key)

    assert r.status == 400, r.json
    assert field in [e["field"] for e in r.json["errors"]]


def test_only_admins_change_providers_and_names_are_checked(api, workspace):
    operator = workspace.key("operator")
    assert api.put("/v1/providers/ali", ALIYUN, key=operator).status == 403
    assert api.put("/v1/providers/Bad%20Name", ALIYUN, key=workspace.admin_key).status == 400
    assert api.get("/v1/providers/none", key=operator).status == 404


def test_delete_removes_the_account_and_schedules_its_secret_and_a_new_one_can_follow(api, workspace):
    from chalicelib import aws
    from chalicelib.sending.repo_providers import secret_id

    key = workspace.admin_key
    api.put("/v1/providers/ali", ALIYUN, key=key)

    assert api.delete("/v1/providers/ali", key=key).status == 204
    assert api.get("/v1/providers/ali", key=key).status == 404
    assert api.delete("/v1/providers/ali", key=key).status == 404
    described = aws.secretsmanager().describe_secret(SecretId=secret_id(workspace.id, "ali"))
    assert described.get("DeletedDate")

    again = api.put("/v1/providers/ali", {**ALIYUN, "credentials": {"access_key_id": "new", "access_key_secret": "n"}},
                    key=key)
    assert again.status == 200 and secret(workspace.id, "ali") == {"access_key_id": "new", "access_key_secret": "n"}


def test_providers_list_by_name_and_stay_in_their_workspace(api, workspace, new_workspace):
    key = workspace.admin_key
    for name in ("b-sms", "a-sms"):
        api.put(f"/v1/providers/{name}", ALIYUN, key=key)
    other = new_workspace("Other")

    assert [p["name"] for p in api.get("/v1/providers", key=key).json["items"]] == ["a-sms", "b-sms"]
    assert api.get("/v1/providers", key=other.admin_key).json["items"] == []
    assert api.get("/v1/providers/a-sms", key=other.admin_key).status == 404
