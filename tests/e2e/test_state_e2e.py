"""End to end: `make run` starts from odd stored state and keeps snapshots whole."""
from __future__ import annotations

import json

import pytest

from devstack.harness import StackProcess

pytestmark = pytest.mark.e2e


def test_the_stack_starts_from_an_old_snapshot_with_an_item_dynamodb_refuses(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    ws = "ws_oldlayout"
    good = {"pk": {"S": f"{ws}#u1"}, "sk": {"S": "profile"}, "workspace_id": {"S": ws}, "user_id": {"S": "u1"},
            "attributes": {"M": {"": {"N": "1"}}}, "created_at": {"S": "2026-11-01T00:00:00Z"},
            "updated_at": {"S": "2026-11-01T00:00:00Z"}, "version": {"N": "1"}}
    refused = {**good, "pk": {"S": f"{ws}#u2"}, "user_id": {"S": "u2"}, "score": {"N": "1e130"}}
    (state_dir / "ma-local-profiles.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(refused) + "\n")
    (state_dir / "state.json").write_text(json.dumps({"bootstrap_key": "mab.kept-from-the-old-layout"}))

    stack = StackProcess(state_dir)
    try:
        assert stack.org_admin_key == "mab.kept-from-the-old-layout"
        assert stack.output().count("not restored because DynamoDB refused") == 1
    finally:
        stack.stop()
    rejected = [json.loads(line) for line in (state_dir / "rejected-ma-local-profiles.jsonl").read_text().splitlines()]
    assert [r["item"]["user_id"] for r in rejected] == [{"S": "u2"}] and "overflow" in rejected[0]["reason"]
    current = state_dir / (state_dir / "CURRENT").read_text().strip()
    saved = [json.loads(line) for line in (current / "ma-local-profiles.jsonl").read_text().splitlines()]
    assert saved == [{**good, "kind": {"S": "profile"}}]  # kept (and upgraded), snapshot after snapshot
    assert not (state_dir / "ma-local-profiles.jsonl").exists() and not (state_dir / "state.json").exists()
