"""The deployable template: the real `chalice package` with infra/resources.yaml merged in,
checked for what the design needs (and cfn-lint cannot see), then linted.

One package run per module (it vendors requirements.txt, so the first run on a machine
downloads wheels). Standalone: no conftest fixtures, no import of app.py or chalicelib.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
STAGE = "dev"
PROBLEM_TYPE_BASE = "https://errors.marketing-automation.dev/"

pytestmark = pytest.mark.slow


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that reads CloudFormation short tags (!Ref, !Sub, !GetAtt ...) as the
    long form, so a template written either way loads the same."""


def _short_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _short_tag)


@pytest.fixture(scope="module")
def packaged(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("package") / STAGE
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    env.pop("AWS_PROFILE", None)
    cmd = [str(BIN / "chalice"), "package", "--stage", STAGE,
           "--merge-template", "infra/resources.yaml", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"chalice package failed:\n{result.stdout}\n{result.stderr}"
    path = out / "sam.yaml"
    with open(path) as fh:
        return path, yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


@pytest.fixture(scope="module")
def template(packaged: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return packaged[1]


def _of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {rid: r for rid, r in template["Resources"].items() if r["Type"] == kind}


def _arn_target(value: Any) -> str | None:
    """The logical id whose Arn `value` is: {"Fn::GetAtt": [X, "Arn"]} or "${X.Arn}"."""
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (fn, arg), = value.items()
    if fn == "Fn::GetAtt":
        parts = arg.split(".", 1) if isinstance(arg, str) else arg
        return parts[0] if list(parts[1:]) == ["Arn"] else None
    if fn == "Fn::Sub" and isinstance(arg, str):
        match = re.fullmatch(r"\$\{(\w+)\.Arn\}", arg)
        return match.group(1) if match else None
    return None


def _sqs_events(template: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(function id, event id, event properties) of every SQS event source."""
    return [(fid, eid, event["Properties"])
            for fid, fn in _of_type(template, "AWS::Serverless::Function").items()
            for eid, event in (fn["Properties"].get("Events") or {}).items()
            if event["Type"] == "SQS"]


def _role_of(function: dict[str, Any]) -> str:
    role = _arn_target(function["Properties"]["Role"])
    assert role, f"function role is not a role of this template: {function['Properties']['Role']}"
    return role


def _statements(policy: dict[str, Any]) -> list[dict[str, Any]]:
    return policy["Properties"]["PolicyDocument"]["Statement"]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_sqs_handlers_read_the_template_queues_in_batches_with_partial_failures(template: dict[str, Any]) -> None:
    events = _sqs_events(template)
    assert ("OnEvents", "OnEventsSqsEventSource") in [(f, e) for f, e, _ in events]
    functions = template["Resources"]
    queues = _of_type(template, "AWS::SQS::Queue")
    global_timeout = template.get("Globals", {}).get("Function", {}).get("Timeout", 3)
    for fid, eid, props in events:
        where = f"{fid}.Events.{eid}"
        assert "ReportBatchItemFailures" in props.get("FunctionResponseTypes", []), where
        assert props.get("BatchSize", 10) > 1, f"{where}: batch_size must be > 1"
        if props.get("BatchSize", 10) > 10:
            assert props.get("MaximumBatchingWindowInSeconds", 0) >= 1, f"{where}: batches above 10 need a window"
        queue_id = _arn_target(props["Queue"])
        assert queue_id in queues, (
            f"{where}: Queue {props['Queue']} is not a queue of this template; override it in "
            'infra/resources.yaml with Queue: !Sub "${<QueueId>.Arn}"')
        queue = queues[queue_id]["Properties"]
        redrive = queue.get("RedrivePolicy")
        assert redrive, f"{queue_id} (consumed by {fid}) has no RedrivePolicy"
        assert _arn_target(redrive["deadLetterTargetArn"]) in queues, f"{queue_id}: DLQ is not a queue of this template"
        assert int(redrive["maxReceiveCount"]) >= 1
        timeout = functions[fid]["Properties"].get("Timeout", global_timeout)
        assert int(queue.get("VisibilityTimeout", 30)) >= int(timeout), (
            f"{queue_id}: VisibilityTimeout below {fid}'s timeout ({timeout} s); Lambda refuses the mapping")
    on_events = functions["OnEvents"]["Properties"]["Events"]["OnEventsSqsEventSource"]["Properties"]
    assert _arn_target(on_events["Queue"]) == "EventsQueue"
    assert ":events" not in json.dumps(on_events["Queue"]), "still the ARN chalice derives from the queue name"
    on_steps = functions["OnSteps"]["Properties"]["Events"]["OnStepsSqsEventSource"]["Properties"]
    assert _arn_target(on_steps["Queue"]) == "StepsQueue"


def test_tables_are_on_demand_and_every_function_gets_the_resource_names(template: dict[str, Any]) -> None:
    tables = _of_type(template, "AWS::DynamoDB::Table")
    assert tables
    for tid, table in tables.items():
        assert table["Properties"].get("BillingMode") == "PAY_PER_REQUEST", tid
    queues = _of_type(template, "AWS::SQS::Queue")
    dlqs = {_arn_target(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
            for q in queues.values() if "RedrivePolicy" in q["Properties"]}
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    # chalicelib/config.py reads MA_TABLE_<NAME> / MA_QUEUE_<NAME>, NAME being the LocalName ('-' as '_').
    expected = {f"MA_TABLE_{t['Metadata']['LocalName'].upper()}": {"Ref": tid} for tid, t in tables.items()}
    expected |= {f"MA_QUEUE_{q['Metadata']['LocalName'].upper().replace('-', '_')}": {"Ref": qid}
                 for qid, q in queues.items() if qid not in dlqs}
    expected |= {f"MA_BUCKET_{b['Metadata']['LocalName'].upper()}": {"Ref": bid}
                 for bid, b in _of_type(template, "AWS::S3::Bucket").items()}
    assert "MA_BUCKET_UPLOADS" in expected
    assert {k: variables.get(k) for k in expected} == expected
    for fid, fn in _of_type(template, "AWS::Serverless::Function").items():
        local = (fn["Properties"].get("Environment") or {}).get("Variables") or {}
        assert not set(local) & set(expected), f"{fid} overrides a resource name from Globals"


def test_every_role_gets_least_privilege_grants_on_the_template_resources(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    app_grants = {s["Sid"]: s for s in _statements(resources["AppAccessPolicy"])}
    table_arns = [json.dumps(r) for r in _as_list(app_grants["Tables"]["Resource"])]
    for tid in _of_type(template, "AWS::DynamoDB::Table"):
        assert json.dumps({"Fn::GetAtt": [tid, "Arn"]}) in table_arns, tid
        assert json.dumps({"Fn::Sub": f"${{{tid}.Arn}}/index/*"}) in table_arns, tid
    for statement in _statements(resources["AppAccessPolicy"]) + _statements(resources["QueueConsumerPolicy"]):
        assert "*" not in _as_list(statement["Resource"]), statement["Sid"]
        assert not any(a.endswith(":*") or a == "*" for a in _as_list(statement["Action"])), statement["Sid"]

    roles = _of_type(template, "AWS::IAM::Role")
    assert roles
    for rid, role in roles.items():
        assert {"Ref": "AppAccessPolicy"} in role["Properties"].get("ManagedPolicyArns", []), (
            f"{rid}: add `ManagedPolicyArns: [!Ref AppAccessPolicy]` under {rid} in infra/resources.yaml")
    consumer_queues = {_arn_target(r) for s in _statements(resources["QueueConsumerPolicy"])
                       for r in _as_list(s["Resource"])}
    for fid, eid, props in _sqs_events(template):
        role = _role_of(resources[fid])
        assert {"Ref": "QueueConsumerPolicy"} in roles[role]["Properties"]["ManagedPolicyArns"], (
            f"{role} (of {fid}) needs QueueConsumerPolicy")
        assert _arn_target(props["Queue"]) in consumer_queues, f"QueueConsumerPolicy must cover {fid}.{eid}'s queue"


def _render(response_template: str) -> Any:
    """A gateway response template as API Gateway fills it (simple $context substitution)."""
    text = response_template.replace("$context.error.messageString", json.dumps("Gateway says \"no\""))
    try:
        return json.loads(re.sub(r"\$context\.[\w.]+", "x", text))
    except ValueError as error:
        raise AssertionError(f"gateway response template is not JSON ({error}): {response_template}") from None


def test_gateway_answers_its_own_errors_as_problem_json(template: dict[str, Any]) -> None:
    (api_id, api), = _of_type(template, "AWS::Serverless::Api").items()
    responses = api["Properties"]["GatewayResponses"]
    assert {"MISSING_AUTHENTICATION_TOKEN", "REQUEST_TOO_LARGE", "DEFAULT_4XX", "DEFAULT_5XX"} <= set(responses)
    assert str(responses["MISSING_AUTHENTICATION_TOKEN"]["StatusCode"]) == "404"
    assert str(responses["REQUEST_TOO_LARGE"]["StatusCode"]) == "413"
    # cfn-lint does not look inside GatewayResponses; SAM's translator accepts only these keys.
    for kind, response in responses.items():
        where = f"{api_id}.GatewayResponses.{kind}"
        assert set(response) <= {"StatusCode", "ResponseParameters", "ResponseTemplates"}, where
        assert set(response["ResponseParameters"]) <= {"Headers", "Paths", "QueryStrings"}, where
        assert response["ResponseParameters"]["Headers"]["Content-Type"] == "'application/problem+json'", where
        body = _render(response["ResponseTemplates"]["application/json"])
        assert {"type", "title", "code", "detail"} <= set(body), where
        assert body["type"] == PROBLEM_TYPE_BASE + body["code"], where
        if "StatusCode" in response:
            assert body["status"] == int(response["StatusCode"]), where
        else:  # the status varies and a template cannot print it: no wrong number either
            assert "status" not in body, where
    assert _render(responses["MISSING_AUTHENTICATION_TOKEN"]["ResponseTemplates"]["application/json"])["code"] == "not_found"
    assert _render(responses["REQUEST_TOO_LARGE"]["ResponseTemplates"]["application/json"])["code"] == "payload_too_large"


def test_the_lambda_bundle_holds_the_app_and_not_the_local_stack(packaged: tuple[Path, dict[str, Any]]) -> None:
    path, _ = packaged
    with zipfile.ZipFile(path.parent / "deployment.zip") as bundle:
        names = bundle.namelist()
    tops = {name.split("/")[0] for name in names}
    assert "app.py" in tops
    assert any(name.startswith("chalicelib/api/") for name in names)
    local_only = {"devstack", "ops", "tests", "bench", "infra", "docs", "moto", "schemathesis", "pytest", "hypothesis"}
    assert not tops & local_only, sorted(tops & local_only)
    assert not [name for name in names if name.startswith("chalicelib/") and "moto" in name.lower()]


def test_template_passes_cfn_lint(packaged: tuple[Path, dict[str, Any]]) -> None:
    path, _ = packaged
    result = subprocess.run([str(BIN / "cfn-lint"), str(path)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"cfn-lint exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
