"""Can DynamoDB store this JSON value? The rules DynamoDB enforces, checked before we accept.

Pure: takes a value as ``json.loads`` parses it and returns the problems, each with the
path of the offending part, so the API refuses with a 400 naming the field instead of
accepting something a queue handler can never write. The rules (DynamoDB's limits):

* numbers (int or float, not bool) are finite, and 0 or of magnitude between 1e-130 and
  9.9999999999999999999999999999999999999e125, with at most 38 significant digits
  (leading and trailing zeros not counted). ``json.loads`` accepts ``NaN`` and
  ``Infinity`` and turns ``1e400`` into infinity, so these are checked here. A float is
  checked as PynamoDB writes it (its shortest repr), an int exactly.
* object keys are 1-255 bytes as UTF-8, without control characters;
* strings and keys are valid Unicode (no lone surrogate such as ``"\\ud800"``), so they
  encode to UTF-8;
* objects and lists nest at most 32 levels, the given value counting as the first.
"""
from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Union

MAX_DEPTH = 32
MAX_KEY_BYTES = 255
MAX_DIGITS = 38
MIN_EXPONENT = -130  # smallest magnitude 1e-130
MAX_EXPONENT = 125   # largest magnitude 9.99...e125 (38 digits)
MAX_PROBLEMS = 20    # enough to fix a request; a hostile one does not get a huge answer

NUMBER_RULE = ("a number must be 0 or between 1e-130 and 9.9999999999999999999999999999999999999e125 "
               "in magnitude (positive or negative)")
KEY_RULE = f"an object key must be 1-{MAX_KEY_BYTES} bytes as UTF-8, without control characters"

Loc = tuple[Union[str, int], ...]
_PLAIN_KEY = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$\-]*$")


@dataclass(frozen=True)
class Problem:
    loc: Loc
    message: str

    def path(self, prefix: str = "") -> str:
        return render_path(self.loc, prefix)


def render_path(loc: Loc, prefix: str = "") -> str:
    """``events[3].properties.cart.items[2].price``; a key that is not a plain name is
    quoted: ``properties["a.b"]``, ``properties[""]``."""
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif len(part) <= 64 and _PLAIN_KEY.fullmatch(part):
            path += ("." if path else "") + part
        else:
            shown = part if len(part) <= 64 else part[:64] + "…"
            path += "[" + json.dumps(shown, ensure_ascii=not is_unicode(shown)) + "]"
    return path or "body"


def problems(value: Any, *, max_depth: int = MAX_DEPTH) -> list[Problem]:
    """Everything in ``value`` DynamoDB would refuse (at most MAX_PROBLEMS)."""
    found: list[Problem] = []
    _walk(value, (), 1, max_depth, found)
    return found[:MAX_PROBLEMS]


def number_problem(value: int | float) -> str | None:
    """Why DynamoDB would refuse this number, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return "a number must be finite (NaN and Infinity cannot be stored)"
    if isinstance(value, int) and abs(value) >= 10 ** (MAX_EXPONENT + 1):
        return NUMBER_RULE  # no str() of a huge int (Python limits it to 4300 digits)
    number = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    if number == 0:
        return None
    if not MIN_EXPONENT <= number.adjusted() <= MAX_EXPONENT:
        return NUMBER_RULE
    digits = significant_digits(number)
    if digits > MAX_DIGITS:
        return f"a number holds at most {MAX_DIGITS} significant digits ({digits} given)"
    return None


def significant_digits(number: Decimal) -> int:
    """Digits once leading and trailing zeros are trimmed, as DynamoDB counts them."""
    text = "".join(map(str, number.as_tuple().digits)).strip("0")
    return max(len(text), 1)


def key_problem(key: str) -> str | None:
    """Why DynamoDB would refuse this object key, or None."""
    if key == "":
        return "an object key must not be empty"
    if not is_unicode(key):
        return "an object key must be valid Unicode (no lone surrogate escape such as \\ud800)"
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        return f"an object key holds at most {MAX_KEY_BYTES} bytes as UTF-8"
    if has_control_character(key):
        return "an object key must not contain control characters"
    return None


def is_unicode(text: str) -> bool:
    """True when the string encodes to UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def has_control_character(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def first_non_unicode(value: Any) -> Loc | None:
    """The path of the first string or key that is not valid Unicode (a lone surrogate
    from a ``\\ud800`` escape), or None. Iterative: any depth ``json.loads`` can produce."""
    stack: list[tuple[Loc, Any]] = [((), value)]
    while stack:
        loc, item = stack.pop()
        if isinstance(item, str):
            if not is_unicode(item):
                return loc
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str) and not is_unicode(key):
                    return loc + (key.encode("utf-8", "backslashreplace").decode("ascii", "replace"),)
                stack.append((loc + (key,), child))
        elif isinstance(item, list):
            stack.extend((loc + (index,), child) for index, child in enumerate(item))
    return None


def json_size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON: the measure of our size caps (a close
    upper bound of what DynamoDB counts for the same map, and what a client can compute)."""
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=True).encode("utf-8", "replace"))


def _walk(value: Any, loc: Loc, depth: int, max_depth: int, found: list[Problem]) -> None:
    if len(found) >= MAX_PROBLEMS:
        return
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        message = number_problem(value)
        if message:
            found.append(Problem(loc, message))
        return
    if isinstance(value, str):
        if not is_unicode(value):
            found.append(Problem(loc, "a string must be valid Unicode (no lone surrogate escape such as \\ud800)"))
        return
    if isinstance(value, (dict, list)):
        if depth > max_depth:
            found.append(Problem(loc, f"objects and lists nest at most {max_depth} levels deep"))
            return
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    found.append(Problem(loc, "object keys must be strings"))
                    continue
                message = key_problem(key)
                if message:
                    found.append(Problem(loc + (key,), message))
                    continue
                _walk(item, loc + (key,), depth + 1, max_depth, found)
        else:
            for index, item in enumerate(value):
                _walk(item, loc + (index,), depth + 1, max_depth, found)
        return
    found.append(Problem(loc, "must be a JSON value (string, number, boolean, null, object or list)"))
