"""The local stack's state snapshots: written whole then swapped in, and never broken by
odd stored data (items DynamoDB would refuse that got in before validation existed)."""
from __future__ import annotations

import json
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.config import settings
from devstack import state

KEY = [{"AttributeName": "pk", "KeyType": "HASH"}]
ATTRS = [{"AttributeName": "pk", "AttributeType": "S"}]


@pytest.fixture
def tables(aws_backend):
    """Two throwaway tables, created empty for each test."""
    client = aws.dynamodb()
    names = ["state-a", "state-b"]
    for name in names:
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", AttributeDefinitions=ATTRS, KeySchema=KEY)
    yield names
    for name in names:
        client.delete_table(TableName=name)


def put(table: str, pk: str, **attributes: Any) -> None:
    aws.dynamodb().put_item(TableName=table, Item={"pk": {"S": pk}, **attributes})


def keys(table: str) -> set[str]:
    return {i["pk"]["S"] for i in aws.dynamodb().scan(TableName=table)["Items"]}


def empty(names: list[str]) -> None:
    client = aws.dynamodb()
    for name in names:
        for item in client.scan(TableName=name)["Items"]:
            client.delete_item(TableName=name, Key={"pk": item["pk"]})


class FailingOnSecondTable:
    """A DynamoDB client whose scans of the second table fail halfway through."""

    def __init__(self, real: Any, table: str):
        self.real, self.table = real, table

    def get_paginator(self, name: str) -> Any:
        paginator = self.real.get_paginator(name)
        table = self.table

        class Paginator:
            def paginate(self, **kwargs: Any) -> Any:
                for page in paginator.paginate(**kwargs):
                    yield page
                    if kwargs["TableName"] == table:
                        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "Scan")

        return Paginator()


def test_a_snapshot_is_a_new_directory_made_current_by_the_pointer(tables, tmp_path):
    put("state-a", "a1")
    put("state-b", "b1")

    first = state.write_snapshot(aws.dynamodb(), tables, tmp_path, {"n": 1})
    put("state-a", "a2")
    second = state.write_snapshot(aws.dynamodb(), tables, tmp_path, {"n": 2})

    assert state.current_snapshot(tmp_path) == second != first
    assert not first.exists()  # superseded snapshots are removed after the swap
    assert (tmp_path / "CURRENT").read_text().strip() == second.name
    assert state.read_state(tmp_path) == {"n": 2}
    assert sorted(p.name for p in second.iterdir()) == ["state-a.jsonl", "state-b.jsonl", "state.json"]


def test_a_dump_that_fails_on_the_second_table_leaves_the_previous_snapshot_current_and_consistent(tables, tmp_path):
    put("state-a", "a1")
    put("state-b", "b1")
    previous = state.write_snapshot(aws.dynamodb(), tables, tmp_path, {"moment": "first"})
    put("state-a", "a2")  # the next moment: both tables changed
    put("state-b", "b2")

    with pytest.raises(ClientError):
        state.write_snapshot(FailingOnSecondTable(aws.dynamodb(), "state-b"), tables, tmp_path, {"moment": "second"})

    assert state.current_snapshot(tmp_path) == previous
    assert state.read_state(tmp_path) == {"moment": "first"}
    empty(tables)
    restored = state.restore(aws.dynamodb(), tables, previous, tmp_path)
    assert restored.counts == {"state-a": 1, "state-b": 1} and not restored.rejected
    assert keys("state-a") == {"a1"} and keys("state-b") == {"b1"}  # both from the first moment

    state.write_snapshot(aws.dynamodb(), tables, tmp_path, {"moment": "third"})  # the next one succeeds
    assert not (tmp_path / "snapshot.tmp").exists()
    assert [p.name for p in tmp_path.glob("snapshot-*")] == [state.current_snapshot(tmp_path).name]


def test_the_old_flat_layout_is_restored_once_then_replaced(tables, tmp_path):
    (tmp_path / "state-a.jsonl").write_text(json.dumps({"pk": {"S": "old-a"}, "n": {"N": "1"}}) + "\n")
    (tmp_path / "state-b.jsonl").write_text(json.dumps({"pk": {"S": "old-b"}}) + "\n")
    (tmp_path / "state.json").write_text(json.dumps({"bootstrap_key": "kept"}))

    assert state.current_snapshot(tmp_path) == tmp_path
    assert state.read_state(tmp_path) == {"bootstrap_key": "kept"}
    assert state.restore(aws.dynamodb(), tables, tmp_path, tmp_path).counts == {"state-a": 1, "state-b": 1}
    assert keys("state-a") == {"old-a"} and keys("state-b") == {"old-b"}

    snapshot = state.write_snapshot(aws.dynamodb(), tables, tmp_path, state.read_state(tmp_path))
    assert state.current_snapshot(tmp_path) == snapshot
    assert state.read_state(tmp_path) == {"bootstrap_key": "kept"}
    assert not any((tmp_path / n).exists() for n in ("state-a.jsonl", "state-b.jsonl", "state.json"))


def test_what_moto_refuses_and_what_it_takes(tables):
    """The facts the restore is built on (moto 5.2): numbers out of DynamoDB's range are
    refused; empty attribute names and map keys are stored (DynamoDB refuses them)."""
    for number in ("1e130", "1e-200"):
        with pytest.raises(ClientError, match="Number (overflow|underflow)"):
            put("state-a", "n", n={"N": number})
    put("state-a", "e", m={"M": {"": {"N": "1"}}})
    put("state-a", "f", **{"": {"N": "1"}})
    assert keys("state-a") == {"e", "f"}


def test_items_moto_refuses_on_restore_are_set_aside_and_the_rest_restored(tables, tmp_path):
    lines = [
        {"pk": {"S": "good-1"}},
        {"pk": {"S": "too-big"}, "n": {"N": "1e130"}},
        {"pk": {"S": "too-small"}, "m": {"M": {"x": {"N": "1e-200"}}}},
        {"pk": {"S": "good-2"}, "m": {"M": {"": {"N": "1"}}}},
    ] + [{"pk": {"S": f"more-{n}"}} for n in range(30)]  # more than one batch
    (tmp_path / "state-a.jsonl").write_text("\n".join(json.dumps(i) for i in lines) + "\nnot json\n")

    restored = state.restore(aws.dynamodb(), tables, tmp_path, tmp_path)

    assert restored.counts == {"state-a": 32}
    assert restored.rejected == {"state-a": 3}
    assert keys("state-a") == {"good-1", "good-2"} | {f"more-{n}" for n in range(30)}
    rejected = [json.loads(line) for line in (tmp_path / "rejected-state-a.jsonl").read_text().splitlines()]
    reasons = {json.dumps(r["item"]): r["reason"] for r in rejected}
    assert "overflow" in reasons[json.dumps(lines[1])]
    assert "underflow" in reasons[json.dumps(lines[2])]
    assert "not valid JSON" in reasons[json.dumps("not json")]
    warning = restored.warning(tmp_path)
    assert warning is not None and "3 stored items were not restored" in warning and "rejected-state-a.jsonl" in warning


def test_an_item_with_an_empty_name_survives_a_snapshot_and_a_restore(tables, tmp_path):
    odd = {"pk": {"S": "odd"}, "": {"S": "top"}, "m": {"M": {"": {"N": "1"}, "x": {"L": [{"M": {"": {"B": b"\x00\xff"}}}]}}}}
    aws.dynamodb().put_item(TableName="state-a", Item=odd)
    put("state-b", "b1")

    snapshot = state.write_snapshot(aws.dynamodb(), tables, tmp_path, {})
    empty(tables)
    restored = state.restore(aws.dynamodb(), tables, snapshot, tmp_path)

    assert restored.counts == {"state-a": 1, "state-b": 1} and not restored.rejected
    assert aws.dynamodb().get_item(TableName="state-a", Key={"pk": {"S": "odd"}})["Item"] == odd


def test_a_profile_with_an_empty_attribute_key_can_still_be_read_through_the_api(workspace):
    pk = f"{workspace.id}#odd-user"
    aws.dynamodb().put_item(TableName=settings.table("profiles"), Item={
        "pk": {"S": pk}, "sk": {"S": "profile"}, "kind": {"S": "profile"}, "workspace_id": {"S": workspace.id}, "user_id": {"S": "odd-user"},
        "attributes": {"M": {"": {"N": "1"}, "plan": {"S": "pro"}}},
        "created_at": {"S": "2026-11-01T00:00:00Z"}, "updated_at": {"S": "2026-11-01T00:00:00Z"}, "version": {"N": "1"},
    })

    one = workspace.api.get("/v1/profiles/odd-user", key=workspace.admin_key)
    assert one.status == 200, one.json
    assert one.json["attributes"] == {"": 1, "plan": "pro"}
    listed = workspace.api.get("/v1/profiles", key=workspace.admin_key)
    assert listed.status == 200, listed.json
    assert [p["user_id"] for p in listed.json["items"]] == ["odd-user"]


def test_ctrl_c_stops_moto_even_when_the_final_snapshot_fails(tmp_path):
    from devstack.stack import LocalStack

    moto = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    (tmp_path / "running.json").write_text("{}")
    stack = LocalStack.__new__(LocalStack)  # no moto server or app: only what shutdown uses
    stack.stop = threading.Event()
    stack.state_dir = tmp_path
    stack.moto = moto
    stack.http = types.SimpleNamespace(server=types.SimpleNamespace(shutdown=lambda: None))
    stack.pump = types.SimpleNamespace(drain=lambda timeout: 0, stop=lambda: None)

    def failing_persist() -> None:
        raise ClientError({"Error": {"Code": "InternalServerError", "Message": "boom"}}, "Scan")

    stack.persist = failing_persist  # type: ignore[method-assign]
    try:
        stack.shutdown()
        assert moto.poll() is not None  # stopped
        assert not (tmp_path / "running.json").exists()
    finally:
        if moto.poll() is None:
            moto.kill()


def test_items_dumped_before_the_kind_discriminator_and_time_keyed_events_are_upgraded():
    from devstack.state import upgrade

    old_event = {"pk": {"S": "ws#u"}, "sk": {"S": "ev1"}, "time_key": {"S": "2026-01-01T00:00:00.000Z#ev1"},
                 "name_time_key": {"S": "view#2026-01-01T00:00:00.000Z#ev1"}, "ts": {"S": "2026-01-01T00:00:00.000Z"},
                 "name": {"S": "view"}}
    assert upgrade(old_event) == {"pk": {"S": "ws#u"}, "sk": {"S": "2026-01-01T00:00:00.000Z#ev1"},
                                  "event_id": {"S": "ev1"}, "kind": {"S": "event"},
                                  "ts": {"S": "2026-01-01T00:00:00.000Z"}, "name": {"S": "view"}}
    assert upgrade({"pk": {"S": "ws#u"}, "sk": {"S": "profile"}})["kind"] == {"S": "profile"}
    assert upgrade({"pk": {"S": "ws#u"}, "sk": {"S": "stat#view"}})["kind"] == {"S": "stat"}
    assert upgrade({"pk": {"S": "ws#u"}, "sk": {"S": "erased"}})["kind"] == {"S": "erased"}
    assert upgrade({"pk": {"S": "ws"}, "sk": {"S": "workspace"}})["kind"] == {"S": "workspace"}
    assert upgrade({"pk": {"S": "ws"}, "sk": {"S": "key#k1"}})["kind"] == {"S": "key"}
    assert upgrade({"pk": {"S": "ws"}, "sk": {"S": "eventdef#view"}})["kind"] == {"S": "eventdef"}
    assert upgrade({"pk": {"S": "ws"}, "sk": {"S": "other"}}) == {"pk": {"S": "ws"}, "sk": {"S": "other"}}
