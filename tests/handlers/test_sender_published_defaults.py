"""A provider account that sets no rate limit or cost gets its kind's published defaults."""
from __future__ import annotations

import dataclasses

from chalicelib.sending import providers_config
from tests.handlers.test_sender import at, invoke, record, send_body, stored  # noqa: F401 - the `at` fixture


def test_the_kinds_published_defaults_are_only_those_it_publishes():
    assert providers_config.published_defaults("whatsapp") == {"rate_limit": 80.0}
    assert providers_config.published_defaults("umeng") == {"cost_per_message": 0.0}
    assert providers_config.published_defaults("viber") == {}
    assert providers_config.published_defaults("no-such-kind") == {}


def test_an_account_without_a_cost_is_charged_its_kinds_published_cost_and_its_own_cost_wins(
        app, api, workspace, at, monkeypatch):  # noqa: F811
    sandbox = providers_config.KINDS["sandbox"]
    monkeypatch.setitem(providers_config.KINDS, "sandbox", dataclasses.replace(sandbox, cost_per_message=0.07))
    key = workspace.admin_key
    assert api.put("/v1/providers/plain", {"channel": "sms", "kind": "sandbox"}, key=key).status == 200
    assert api.put("/v1/providers/priced", {"channel": "sms", "kind": "sandbox", "cost_per_message": 0.03},
                   key=key).status == 200

    invoke(app, record({**send_body(workspace.id, "u1"), "provider": {"name": "plain"}}))
    invoke(app, record({**send_body(workspace.id, "u1", task_id="tsk_2"), "provider": {"name": "priced"}}))

    assert float(stored(workspace.id, "u1").cost) == 0.07
    assert float(stored(workspace.id, "u1", "tsk_2").cost) == 0.03
