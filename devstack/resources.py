"""Create the template's tables and queues on the local endpoint (moto).

Reads infra/resources.yaml, the same declarations CloudFormation deploys, and names each
resource ``<prefix><Metadata.LocalName>`` as config.py expects.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[1] / "infra" / "resources.yaml"
_TABLE_KEYS = (
    "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode",
)


class _CfnLoader(yaml.SafeLoader):
    """SafeLoader that keeps CloudFormation short-form tags as {"Fn::X": value}."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with open(path) as fh:
        return yaml.load(fh, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass


def _resources(template: dict[str, Any], kind: str) -> list[tuple[str, dict[str, Any]]]:
    return [(rid, r) for rid, r in template["Resources"].items() if r["Type"] == kind]


def create_all(dynamodb: Any, sqs: Any, prefix: str, template: dict[str, Any] | None = None,
               s3: Any = None) -> None:
    """Create every table, queue and bucket that does not exist yet (idempotent)."""
    template = template or load_template()
    if s3 is not None:
        buckets = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
        for _, res in _resources(template, "AWS::S3::Bucket"):
            name = prefix + res["Metadata"]["LocalName"]
            if name not in buckets:
                s3.create_bucket(Bucket=name)
    existing = set(dynamodb.list_tables()["TableNames"])
    for _, res in _resources(template, "AWS::DynamoDB::Table"):
        name = prefix + res["Metadata"]["LocalName"]
        if name in existing:
            continue
        props = res["Properties"]
        dynamodb.create_table(TableName=name, **{k: props[k] for k in _TABLE_KEYS if k in props})
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    arns: dict[str, str] = {}
    queues = _resources(template, "AWS::SQS::Queue")
    # Dead-letter queues first, so redrive policies can name their ARNs.
    queues.sort(key=lambda item: "RedrivePolicy" in item[1]["Properties"])
    for rid, res in queues:
        props = res["Properties"]
        attributes = {
            k: str(props[k]) for k in ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds") if k in props
        }
        redrive = props.get("RedrivePolicy")
        if redrive:
            target = redrive["deadLetterTargetArn"]["Fn::GetAtt"]
            target_id = target[0] if isinstance(target, list) else target.split(".")[0]
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": arns[target_id], "maxReceiveCount": int(redrive["maxReceiveCount"])}
            )
        url = sqs.create_queue(QueueName=prefix + res["Metadata"]["LocalName"], Attributes=attributes)["QueueUrl"]
        arns[rid] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def queue_names(prefix: str, template: dict[str, Any] | None = None) -> dict[str, str]:
    """LocalName -> physical name of every queue, dead-letter queues included."""
    template = template or load_template()
    return {r["Metadata"]["LocalName"]: prefix + r["Metadata"]["LocalName"] for _, r in _resources(template, "AWS::SQS::Queue")}
