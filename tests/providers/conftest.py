"""Helpers for the adapter tests: messages to send, stubbed AWS clients, and the sends
queue handler run in-process (on the session's moto backend)."""
from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.stub import Stubber

from chalicelib import aws
from chalicelib.providers.base import Outgoing, ProviderConfig

STUB_ENDPOINT = "https://stubbed.invalid"


def outgoing(to: str | None, channel: str = "email", *, key: str | None = None, **content: Any) -> Outgoing:
    key = key or uuid.uuid4().hex
    return Outgoing(workspace_id="ws_test", message_key=f"ws_test#msg|{key}", idempotency_key=key,
                    user_id="u1", channel=channel, to=to, content=content)


def config(kind: str, channel: str, **settings: Any) -> ProviderConfig:
    return ProviderConfig(workspace_id="ws_test", name="main", kind=kind, channel=channel, settings=settings)


@pytest.fixture
def stubbed() -> Iterator[Callable[[str], Stubber]]:
    """stubbed(service): a Stubber on the adapter's client for ``endpoint=STUB_ENDPOINT``
    (activated; checked for unused answers at the end)."""
    stubbers: list[Stubber] = []

    def make(service: str) -> Stubber:
        stubber = Stubber(aws.provider_client(service, None, STUB_ENDPOINT))
        stubber.activate()
        stubbers.append(stubber)
        return stubber

    yield make
    for stubber in stubbers:
        stubber.deactivate()
    for stubber in stubbers:
        stubber.assert_no_pending_responses()


@contextmanager
def raising(service: str, error: Exception, endpoint: str = STUB_ENDPOINT) -> Iterator[None]:
    """Every request of the client for ``endpoint`` fails on the wire with ``error``."""
    events = aws.provider_client(service, None, endpoint).meta.events

    def fail(**_: Any) -> None:
        raise error

    events.register_first("before-send", fail, unique_id="raising")
    try:
        yield
    finally:
        events.unregister("before-send", unique_id="raising")


# --- the sends queue handler, end to end ------------------------------------------------------

def send_record(workspace_id: str, provider: str, channel: str, recipients: list[dict[str, Any]],
                task_id: str = "tsk_1") -> dict[str, Any]:
    body = {"type": "send", "workspace_id": workspace_id, "channel": channel, "task_id": task_id,
            "provider": {"name": provider}, "recipients": recipients}
    return {
        "messageId": str(uuid.uuid4()), "receiptHandle": "rh", "body": json.dumps(body),
        "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
        "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ma-local-sends",
        "awsRegion": "us-east-1",
    }


def run_sender(app: Any, *records: dict[str, Any]) -> dict[str, Any]:
    from devstack.lambda_shapes import FakeContext

    return app.handler_map["on_sends"]({"Records": list(records)}, FakeContext("on_sends"))


def message_record(workspace_id: str, user_id: str, task_id: str = "tsk_1") -> Any:
    from chalicelib.models.messages import MessageItem
    from chalicelib.sending.messages import MessageKey

    key = MessageKey(workspace_id, user_id, task_id=task_id)
    return MessageItem.get(key.pk, key.sk, consistent_read=True)
