"""Persist the local stack across restarts: table items as DynamoDB-JSON lines, plus a
small state.json (bootstrap key, demo workspace and key, clock offset).

A snapshot is one directory holding every table and state.json *from the same moment*.
It is written whole under ``snapshot.tmp/``, renamed to ``snapshot-<n>/``, and only then
made current by replacing the pointer file ``CURRENT`` (written to a temporary file and
renamed over, which is atomic). A dump that fails halfway, or a killed process, leaves
the previous snapshot current and intact; older snapshot directories are removed after
the swap. Layout of the state directory::

    CURRENT                  name of the current snapshot directory
    snapshot-000042/         <table>.jsonl for every table, state.json
    running.json             the running stack's endpoints (removed on a clean stop)
    rejected-<table>.jsonl   stored items DynamoDB refused on restore, with the reason

The flat layout of earlier versions (``<table>.jsonl`` and ``state.json`` directly in
the directory) is still read when there is no ``CURRENT``, and removed after the first
snapshot in the new layout.

Restoring never fails start-up because of one odd stored item: items DynamoDB (moto)
refuses are put aside in ``rejected-<table>.jsonl`` with the reason, the rest restored.

Queues are drained before the final dump, so nothing in flight is lost on a clean stop;
moto keeps no state of its own.
"""
from __future__ import annotations

import base64
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError, ParamValidationError

from chalicelib import dynamo

POINTER = "CURRENT"
TMP_SNAPSHOT = "snapshot.tmp"
STATE_FILE = "state.json"
RUNNING_FILE = "running.json"


# --- one table file -----------------------------------------------------------------

def _encode(value: Any) -> Any:
    """DynamoDB JSON as returned by boto3 -> plain JSON (binary values as base64 text)."""
    if isinstance(value, dict):
        if set(value) == {"B"} and isinstance(value["B"], (bytes, bytearray)):
            return {"B": base64.b64encode(value["B"]).decode()}
        if set(value) == {"BS"}:
            return {"BS": [base64.b64encode(v).decode() if isinstance(v, (bytes, bytearray)) else v for v in value["BS"]]}
        if set(value) == {"M"} and isinstance(value["M"], dict):
            return {"M": {k: _encode(v) for k, v in value["M"].items()}}
        if set(value) == {"L"} and isinstance(value["L"], list):
            return {"L": [_encode(v) for v in value["L"]]}
    return value


def _decode(value: Any) -> Any:
    """The reverse of _encode, for boto3 (which base64-encodes binary values itself)."""
    if isinstance(value, dict):
        if set(value) == {"B"} and isinstance(value["B"], str):
            return {"B": base64.b64decode(value["B"])}
        if set(value) == {"BS"} and isinstance(value["BS"], list):
            return {"BS": [base64.b64decode(v) if isinstance(v, str) else v for v in value["BS"]]}
        if set(value) == {"M"} and isinstance(value["M"], dict):
            return {"M": {k: _decode(v) for k, v in value["M"].items()}}
        if set(value) == {"L"} and isinstance(value["L"], list):
            return {"L": [_decode(v) for v in value["L"]]}
    return value


def dump_tables(dynamodb: Any, tables: list[str], directory: Path) -> dict[str, int]:
    """Scan every table into ``directory/<table>.jsonl``; the counts written."""
    directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    for table in tables:
        path = directory / f"{table}.jsonl"
        tmp = path.with_suffix(".tmp")
        count = 0
        with open(tmp, "w") as out:
            for page in dynamodb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    out.write(json.dumps({k: _encode(v) for k, v in item.items()}, separators=(",", ":")) + "\n")
                    count += 1
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(path)
        counts[table] = count
    return counts


@dataclass
class Restored:
    counts: dict[str, int] = field(default_factory=dict)  # items put back, per table
    rejected: dict[str, int] = field(default_factory=dict)  # items refused, per table (only tables with some)

    def warning(self, state_dir: Path) -> str | None:
        """One line for the operator when anything was refused."""
        if not self.rejected:
            return None
        total = sum(self.rejected.values())
        files = ", ".join(f"{state_dir / f'rejected-{t}.jsonl'} ({n})" for t, n in self.rejected.items())
        what = "1 stored item was" if total == 1 else f"{total} stored items were"
        return (f"warning: {what} not restored because DynamoDB refused {'it' if total == 1 else 'them'} "
                f"(stored before validation existed); everything else was restored. "
                f"The refused items and the reasons: {files}")


def _refusal(error: Exception) -> str | None:
    """Why DynamoDB refused an item, when the error is about the item itself (else None)."""
    if isinstance(error, ParamValidationError):
        return f"not a valid DynamoDB item: {error}"
    if isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") == "ValidationException":
        return str(error.response["Error"].get("Message") or "ValidationException")
    return None


def upgrade(item: dict[str, Any]) -> dict[str, Any]:
    """An item dumped by an older version, in today's shape: items without ``kind`` get
    the one their sort key implies, and events keyed by id (before the events table's
    sort key became "<ts>#<event_id>") are re-keyed by time."""
    if "kind" in item or "sk" not in item:
        return item
    sk = item["sk"].get("S", "")
    if "time_key" in item:  # an event from the LSI layout
        item = {k: v for k, v in item.items() if k not in ("time_key", "name_time_key")}
        return {**item, "sk": {"S": f"{item['ts']['S']}#{sk}"}, "event_id": {"S": sk}, "kind": {"S": "event"}}
    prefixes = {"stat#": "stat", "key#": "key", "eventdef#": "eventdef"}
    kind = ({"profile": "profile", "erased": "erased", "workspace": "workspace"}.get(sk)
            or next((k for p, k in prefixes.items() if sk.startswith(p)), None))
    return {**item, "kind": {"S": kind}} if kind else item


def restore(dynamodb: Any, tables: list[str], directory: Path, rejected_dir: Path | None = None) -> Restored:
    """Put every stored item back. Items DynamoDB refuses (and lines that are not JSON)
    go to ``rejected_dir/rejected-<table>.jsonl`` with the reason; the rest is restored."""
    result = Restored()
    for table in tables:
        path = directory / f"{table}.jsonl"
        if not path.exists():
            continue
        items: list[dict[str, Any]] = []
        refused: list[tuple[Any, str]] = []
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except ValueError:
                refused.append((line, f"line {number} is not valid JSON"))
                continue
            if isinstance(item, dict):
                items.append(upgrade(item))
            else:
                refused.append((item, f"line {number} is not a DynamoDB item (a JSON object)"))
        restored = 0
        for part in dynamo.chunks(items, 25):
            try:
                request: dict[str, Any] = {table: [{"PutRequest": {"Item": _decode_item(i)}} for i in part]}
                while request:
                    request = dynamodb.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                restored += len(part)
            except (ClientError, ParamValidationError) as error:
                if _refusal(error) is None:
                    raise
                for item in part:  # one bad item refuses the whole batch: find it, keep the others
                    try:
                        dynamodb.put_item(TableName=table, Item=_decode_item(item))
                        restored += 1
                    except (ClientError, ParamValidationError) as one:
                        reason = _refusal(one)
                        if reason is None:
                            raise
                        refused.append((item, reason))
        result.counts[table] = restored
        if refused:
            result.rejected[table] = len(refused)
            _write_rejected((rejected_dir or directory) / f"rejected-{table}.jsonl", refused)
    return result


def _decode_item(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _decode(v) for k, v in item.items()}


def _write_rejected(path: Path, refused: list[tuple[Any, str]]) -> None:
    at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    with open(path, "a") as out:
        for item, reason in refused:
            out.write(json.dumps({"rejected_at": at, "reason": reason, "item": item}, separators=(",", ":")) + "\n")


def restore_tables(dynamodb: Any, tables: list[str], directory: Path) -> dict[str, int]:
    """restore() for callers that only want the counts."""
    return restore(dynamodb, tables, directory).counts


# --- whole snapshots ------------------------------------------------------------------

def current_snapshot(state_dir: Path) -> Path | None:
    """The directory of the current snapshot: the one CURRENT names, else the old flat
    layout (the state directory itself) when it holds one, else None."""
    pointer = state_dir / POINTER
    if pointer.exists():
        name = pointer.read_text().strip()
        if name and (state_dir / name).is_dir():
            return state_dir / name
    flat_tables = [p for p in state_dir.glob("*.jsonl") if not p.name.startswith("rejected-")]
    if (state_dir / STATE_FILE).exists() or flat_tables:
        return state_dir
    return None


def read_state(state_dir: Path) -> dict[str, Any]:
    """state.json of the current snapshot ({} when there is none)."""
    snapshot = current_snapshot(state_dir)
    return read_json(snapshot / STATE_FILE) if snapshot else {}


def write_snapshot(dynamodb: Any, tables: list[str], state_dir: Path, data: dict[str, Any]) -> Path:
    """Dump every table and ``data`` (state.json) as one new snapshot and make it current.

    Raises if anything fails; the previous snapshot then stays current and untouched."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / TMP_SNAPSHOT
    shutil.rmtree(tmp, ignore_errors=True)  # left by a dump that failed or was killed
    tmp.mkdir()
    dump_tables(dynamodb, tables, tmp)
    write_json(tmp / STATE_FILE, data)
    previous = current_snapshot(state_dir)
    final = state_dir / _next_name(state_dir)
    tmp.rename(final)
    _fsync_dir(state_dir)
    pointer_tmp = state_dir / (POINTER + ".tmp")
    with open(pointer_tmp, "w") as out:
        out.write(final.name + "\n")
        out.flush()
        os.fsync(out.fileno())
    os.replace(pointer_tmp, state_dir / POINTER)  # the swap: from here on the new snapshot is current
    _fsync_dir(state_dir)
    _remove_old(state_dir, keep=final, previous=previous, tables=tables)
    return final


def _next_name(state_dir: Path) -> str:
    numbers = [int(p.name.split("-", 1)[1]) for p in state_dir.glob("snapshot-*")
               if p.is_dir() and p.name.split("-", 1)[1].isdigit()]
    return f"snapshot-{max(numbers, default=0) + 1:06d}"


def _remove_old(state_dir: Path, keep: Path, previous: Path | None, tables: list[str]) -> None:
    for path in state_dir.glob("snapshot-*"):
        if path.is_dir() and path != keep:
            shutil.rmtree(path, ignore_errors=True)
    if previous == state_dir:  # the old flat layout, now superseded
        for name in [STATE_FILE, *(f"{t}.jsonl" for t in tables)]:
            (state_dir / name).unlink(missing_ok=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not supported on this platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


# --- small JSON files -----------------------------------------------------------------

def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.exists() else {}


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)
