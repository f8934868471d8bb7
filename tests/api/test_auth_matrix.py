"""Every route checks the key and the role, including routes added later."""
from __future__ import annotations

import re

import pytest

import app as app_module  # noqa: F401 - importing the app registers every endpoint
from chalicelib.api.http import ENDPOINTS
from tests.conftest import BOOTSTRAP_KEY

RANK = {"viewer": 0, "operator": 1, "admin": 2}


def concrete(path: str) -> str:
    return re.sub(r"{\w+}", "x", path)


PROTECTED = [e for e in ENDPOINTS if not e.public]
assert PROTECTED, "no endpoints registered"


@pytest.mark.parametrize("endpoint", PROTECTED, ids=lambda e: f"{e.method} {e.path}")
def test_every_protected_route_needs_a_key(api, endpoint):
    reply = api.call(endpoint.method, concrete(endpoint.path), {})
    assert reply.status == 401
    assert reply.json["code"] == "unauthorized"


@pytest.mark.parametrize("endpoint", PROTECTED, ids=lambda e: f"{e.method} {e.path}")
def test_every_route_refuses_keys_below_its_role(api, workspace, endpoint):
    if endpoint.org:
        weaker = [workspace.admin_key]
    else:
        weaker = [workspace.key(role) for role, rank in RANK.items() if rank < RANK[endpoint.role.value]]
        weaker.append(BOOTSTRAP_KEY)  # the org key reaches no workspace data
    for key in weaker:
        reply = api.call(endpoint.method, concrete(endpoint.path), {}, key=key)
        assert reply.status == 403, (endpoint.path, reply.json)


def test_reads_are_open_to_viewers_and_writes_are_not(app):
    for endpoint in PROTECTED:
        if endpoint.org:
            continue
        if endpoint.method == "GET":
            assert endpoint.role is not None
        else:
            assert endpoint.role is not None and endpoint.role.value != "viewer", endpoint.path


def test_the_local_clock_is_not_a_route_of_the_app(app, api):
    assert not any(path.startswith("/_local") for path in app.routes)
    assert not any(path.startswith("/_local") for path in api.get("/v1/openapi.json").json["paths"])
