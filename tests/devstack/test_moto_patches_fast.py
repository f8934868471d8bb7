"""devstack.moto_patches makes moto faster without changing one byte of what it answers:
the same DynamoDB and SQS calls get the same status and body from patched moto as from
stock moto (tests/devstack/moto_transcript.py, each run in a process of its own)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def transcript(mode: str) -> list[Any]:
    done = subprocess.run([sys.executable, "-m", "tests.devstack.moto_transcript", mode], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=True)
    return list(json.loads(done.stdout))


@pytest.fixture(scope="module")
def answers() -> tuple[list[Any], list[Any]]:
    return transcript("stock"), transcript("patched")


def test_patched_moto_answers_every_call_as_stock_moto_does(answers):
    stock, patched = answers
    assert [entry[0] for entry in patched] == [entry[0] for entry in stock]
    for want, got in zip(stock, patched):
        assert got == want, want[0]


def test_the_transcript_covers_items_of_every_type_and_failing_updates(answers):
    stock, _ = answers
    bodies = {name: body for name, _, body in stock}
    item = json.loads(bodies["get"])["Item"]
    assert {next(iter(value)) for value in item.values()} == {"S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL"}
    assert json.loads(bodies["get odd"])["Item"][""] == {"S": "empty name"}
    assert "Attributes" in json.loads(bodies["update 1"]) and "Attributes" in json.loads(bodies["update 2"])
    assert 'The \\"ADD\\" section can only be used once' in bodies["update 4"]
    assert "Two document paths overlap" in bodies["update 6"]


def test_an_attribute_value_the_fast_path_does_not_know_takes_moto_s_own_way():
    from devstack import moto_patches

    assert moto_patches._attribute_value({"M": {"a": {"S": "x"}, "": {"N": "1"}}}, None) == \
        {"M": {"a": {"S": "x"}, "": {"N": "1"}}}
    for odd in ({"X": "1"}, "text", {"M": "not a map"}, {"L": [{"S": "a"}, "b"]}):
        with pytest.raises(moto_patches._NotPlain):
            moto_patches._attribute_value(odd, None)
