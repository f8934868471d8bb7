"""One `make run` stack for the end-to-end tests that can share it.

Starting the stack costs tens of seconds on a busy 2-core machine, so the tests that need
nothing of their own (each makes its own workspace, or uses the demo one read-only) share
one, started with the demo workspace exactly as the README's `make run` does. Tests about
starting, stopping and restoring state start their own."""
from __future__ import annotations

import pytest

from devstack.harness import StackProcess


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory):
    running = StackProcess(tmp_path_factory.mktemp("shared") / "state", demo=True)
    yield running
    running.stop()


@pytest.fixture
def stack(shared_stack):
    return shared_stack


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`--dist loadgroup`) every end-to-end test runs on one worker, so
    the shared stack starts once and the tests that move its clock never race each other."""
    for item in items:
        if "tests/e2e/" in item.nodeid.replace("\\", "/") or item.nodeid.startswith("e2e/"):
            item.add_marker(pytest.mark.xdist_group("stack"))
