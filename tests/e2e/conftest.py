"""One `make run` stack for the end-to-end tests that can share it.

Starting the stack costs tens of seconds on a busy 2-core machine, so the tests that need
nothing of their own (each makes its own workspace, or uses the demo one read-only) share
one, started with the demo workspace exactly as the README's `make run` does. Tests about
starting, stopping and restoring state start their own. Under pytest-xdist each worker that
runs end-to-end tests has its own shared stack (the fixture is per process), so tests that
move a stack's clock never race each other."""
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

