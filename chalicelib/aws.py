"""The one place that makes AWS clients.

Clients are built lazily and cached per process. boto3 honours ``AWS_ENDPOINT_URL``, so
the local stack points everything at moto's server without code changes. In Lambda,
X-Ray patches boto3 and httpx; locally and in tests ``AWS_XRAY_SDK_ENABLED=false``
keeps it silent.
"""
from __future__ import annotations

import os
import threading
from functools import lru_cache
from typing import Any

import boto3
from botocore.config import Config

from chalicelib.config import settings

_BOTO_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=50)
_lock = threading.Lock()
_patched = False


def in_lambda() -> bool:
    return "AWS_LAMBDA_FUNCTION_NAME" in os.environ


def enable_tracing() -> None:
    """Patch boto3 and httpx for X-Ray when running in Lambda with the SDK enabled."""
    global _patched
    if _patched or not in_lambda() or os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() == "false":
        return
    from aws_xray_sdk.core import patch

    patch(["boto3", "httpx"])
    _patched = True


@lru_cache(maxsize=None)
def client(service: str) -> Any:
    with _lock:
        return boto3.session.Session().client(service, region_name=settings.region, config=_BOTO_CONFIG)


# Clients that send to a provider (SES, SNS, End User Messaging): one attempt per call, so a
# send is never repeated behind the sender's back (the sender retries with backoff and
# records each outcome), and bounded waits so a stalled call is a timeout, not a hung Lambda.
_SEND_CONFIG = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=5, read_timeout=20,
                      max_pool_connections=50)


def provider_client(service: str, region: str | None = None, endpoint: str | None = None) -> Any:
    """A client for a provider account: its own region and endpoint (private gateways,
    tests) when set, else the deployment's; cached per (service, region, endpoint)."""
    return _provider_client(service, region or settings.region, endpoint or None)


@lru_cache(maxsize=None)
def _provider_client(service: str, region: str, endpoint: str | None) -> Any:
    with _lock:
        return boto3.session.Session().client(service, region_name=region, endpoint_url=endpoint, config=_SEND_CONFIG)


def dynamodb() -> Any:
    return client("dynamodb")


def sqs() -> Any:
    return client("sqs")


@lru_cache(maxsize=None)
def s3() -> Any:
    """S3 with Signature Version 4, so presigned URLs sign the headers they fix (a presigned
    PUT's Content-Type and Content-Length); botocore's default presigns with version 2 in
    us-east-1, which signs no length."""
    with _lock:
        return boto3.session.Session().client("s3", region_name=settings.region,
                                              config=_BOTO_CONFIG.merge(Config(signature_version="s3v4")))


def secretsmanager() -> Any:
    return client("secretsmanager")


@lru_cache(maxsize=None)
def queue_url(name_or_url: str) -> str:
    if name_or_url.startswith("https://") or name_or_url.startswith("http://"):
        return name_or_url
    return sqs().get_queue_url(QueueName=name_or_url)["QueueUrl"]


def dead_letter(queue: str, body: str, reason: str) -> None:
    """Put one message on ``queue``'s dead-letter queue (``<queue>-dlq`` in the settings)
    with the reason it can never succeed, for `python -m ops.dlq` to list and redrive."""
    from chalicelib.config import settings as current  # read when used

    sqs().send_message(
        QueueUrl=queue_url(current.queue(f"{queue}-dlq")), MessageBody=body,
        MessageAttributes={
            "reason": {"DataType": "String", "StringValue": (reason or "unknown")[:1000]},
            "source_queue": {"DataType": "String", "StringValue": current.queue(queue).rsplit("/", 1)[-1]},
        },
    )


THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    "Throttling", "TooManyRequestsException", "RequestThrottled", "InternalServerError", "ServiceUnavailable",
})


def is_throttling(error: BaseException) -> bool:
    """An AWS error that is AWS being busy (after botocore's own retries), not our bug."""
    code = getattr(error, "cause_response_code", None)  # PynamoDB wraps botocore errors
    if code is None and hasattr(error, "response"):
        code = getattr(error, "response", {}).get("Error", {}).get("Code")
    return code in THROTTLING_CODES


def reset() -> None:
    """Forget cached clients (tests that switch endpoints or mocks)."""
    client.cache_clear()
    _provider_client.cache_clear()
    s3.cache_clear()
    queue_url.cache_clear()
    from chalicelib import dynamo
    from chalicelib.models import all_models

    dynamo.connection.cache_clear()

    for model in all_models():
        setattr(model, "_connection", None)
