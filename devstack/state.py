"""Persist the local stack across restarts: table items as DynamoDB-JSON lines, plus a
small state.json (bootstrap key, demo workspace and key, clock offset).

Queues are drained before the dump, so nothing in flight is lost on a clean stop; moto
keeps no state of its own.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chalicelib import dynamo


def dump_tables(dynamodb: Any, tables: list[str], directory: Path) -> dict[str, int]:
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in tables:
        path = directory / f"{table}.jsonl"
        tmp = path.with_suffix(".tmp")
        count = 0
        with open(tmp, "w") as out:
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    out.write(json.dumps(item, separators=(",", ":")) + "\n")
                    count += 1
        tmp.replace(path)
        counts[table] = count
    return counts


def restore_tables(dynamodb: Any, tables: list[str], directory: Path) -> dict[str, int]:
    counts = {}
    for table in tables:
        path = directory / f"{table}.jsonl"
        if not path.exists():
            continue
        items = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
        for part in dynamo.chunks(items, 25):
            request: dict[str, Any] = {table: [{"PutRequest": {"Item": i}} for i in part]}
            while request:
                request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        counts[table] = len(items)
    return counts


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
