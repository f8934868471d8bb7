"""DynamoDB item sizes by AWS's rules (attribute names + values; numbers about 1 byte per
2 digits + 1; maps and lists 3 bytes + 1 per element), shared by the benchmarks."""
from __future__ import annotations

from typing import Any

KB, READ_BLOCK = 1024, 4096


def attr_bytes(value: dict[str, Any]) -> int:
    """Size of one DynamoDB attribute value, after AWS's item-size rules (approximate for N)."""
    (kind, v), = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        digits = v.lstrip("-").replace(".", "").lstrip("0").rstrip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(v)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "BS"):
        return sum(len(x.encode()) if isinstance(x, str) else len(x) for x in v)
    if kind == "NS":
        return sum(attr_bytes({"N": x}) for x in v)
    if kind == "M":
        return 3 + sum(len(k.encode()) + attr_bytes(x) + 1 for k, x in v.items())
    if kind == "L":
        return 3 + sum(attr_bytes(x) + 1 for x in v)
    raise ValueError(kind)


def item_bytes(item: dict[str, Any]) -> int:
    return sum(len(name.encode()) + attr_bytes(value) for name, value in item.items())
