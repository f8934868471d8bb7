"""Never a 500 for bad input: arbitrary JSON bodies, query strings and ids on every route."""
from __future__ import annotations

import json
import re
import urllib.parse

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import app as app_module  # noqa: F401 - importing the app registers every endpoint
from chalicelib.api.http import ENDPOINTS

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=40))
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)), max_leaves=12)
# Bodies that look like the real ones: known field names with arbitrary values.
FIELDS = ["name", "timezone", "role", "events", "user_id", "timestamp", "properties", "event_id", "attributes",
          "email", "phone", "add", "remove", "profiles", "event_retention_days", "description"]
near_valid = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5)
ids = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=20)

WITH_BODY = [e for e in ENDPOINTS if e.body is not None]
WITH_QUERY = [e for e in ENDPOINTS if e.query is not None]
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def assert_not_a_server_error(reply) -> None:
    assert reply.status < 500, reply.body
    if reply.status >= 400:
        assert reply.content_type.startswith("application/problem+json")
        assert json.loads(reply.body)["status"] == reply.status


def concrete(path: str, value: str) -> str:
    return re.sub(r"{\w+}", urllib.parse.quote(value, safe=""), path)


@pytest.mark.parametrize("endpoint", WITH_BODY, ids=lambda e: f"{e.method} {e.path}")
def test_arbitrary_bodies_get_a_4xx_or_success_never_a_500(api, workspace, endpoint):
    key = "test-org-admin-key" if endpoint.org else workspace.admin_key

    @FUZZ
    @given(body=st.one_of(json_values, near_valid), path_value=ids)
    def check(body, path_value):
        assert_not_a_server_error(api.call(endpoint.method, concrete(endpoint.path, path_value), body, key=key))

    check()


@pytest.mark.parametrize("endpoint", WITH_QUERY, ids=lambda e: f"{e.method} {e.path}")
def test_arbitrary_query_strings_get_a_4xx_or_success(api, workspace, endpoint):
    @FUZZ
    @given(params=st.dictionaries(st.sampled_from(["limit", "cursor", "name", "x"]), st.text(max_size=30), max_size=3))
    def check(params):
        path = concrete(endpoint.path, "u1") + "?" + urllib.parse.urlencode(params)
        assert_not_a_server_error(api.get(path, key=workspace.admin_key))

    check()


@given(raw=st.binary(max_size=200))
@FUZZ
def test_arbitrary_bytes_as_a_body_are_a_400(api, workspace, raw):
    reply = api.call("POST", "/v1/events", raw=raw, key=workspace.admin_key)
    assert_not_a_server_error(reply)
