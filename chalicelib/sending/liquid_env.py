"""The Liquid environment every template renders in: strict, bounded, a fixed filter set.

Bounds, so a template can fail but never hang or eat the Lambda's memory:

* loop iterations: at most MAX_LOOP_ITERATIONS in total per rendered field (python-liquid
  limits the product of nested loop lengths; we also count loops that follow each other);
* output: at most MAX_OUTPUT_BYTES per rendered field (``capture`` buffers included);
* assigned values: at most MAX_LOCALS_BYTES in ``assign``/``capture`` variables;
* nesting: python-liquid's block nesting and context depth limits;
* filters: every value a filter takes or returns is at most MAX_VALUE_CHARS characters or
  MAX_VALUE_ITEMS items, and ``replace``/``join`` are refused before they would build a
  larger string (``s | replace: "", s`` would square its input);
* no ``include``/``render`` tags (no other templates to load).
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sized
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from liquid import Environment, RenderContext
from liquid.exceptions import FilterValueError, LoopIterationLimitError
from liquid.filter import with_context
from liquid.template import BoundTemplate
from liquid.undefined import FalsyStrictUndefined
from liquid.undefined import Undefined as LiquidUndefined

MAX_LOOP_ITERATIONS = 1_000
MAX_OUTPUT_BYTES = 256 * 1024
MAX_LOCALS_BYTES = 256 * 1024
MAX_VALUE_CHARS = 256 * 1024
MAX_VALUE_ITEMS = 10_000
MAX_NESTING = 20
MAX_INT_BITS = 1_024  # about 308 digits: beyond any price or count

# Liquid's standard filters (Shopify's list, as python-liquid registers them) plus ours.
STANDARD_FILTERS = frozenset({
    "abs", "at_most", "at_least", "ceil", "divided_by", "floor", "minus", "plus", "round", "times",
    "modulo", "capitalize", "append", "downcase", "escape", "escape_once", "lstrip", "newline_to_br",
    "prepend", "remove", "remove_first", "remove_last", "replace", "replace_first", "replace_last",
    "slice", "split", "upcase", "strip", "rstrip", "strip_html", "strip_newlines", "truncate",
    "truncatewords", "url_encode", "url_decode", "base64_encode", "base64_decode",
    "base64_url_safe_encode", "base64_url_safe_decode", "join", "first", "last", "concat", "map",
    "reverse", "sort", "sort_natural", "sum", "where", "uniq", "compact", "size", "default", "date",
    "find", "find_index", "has", "reject",
})
OUR_FILTERS = frozenset({"short_link"})
ALLOWED_FILTERS = STANDARD_FILTERS | OUR_FILTERS
DISABLED_TAGS = ("include", "render")

Shortener = Callable[[str], str]


class Undefined(FalsyStrictUndefined):
    """A missing variable: output or iteration is an error naming it; ``{% if x %}`` is
    false and ``x | default: "y"`` is "y", so templates can test for optional values."""

    force_liquid_default = True


class TooLarge(FilterValueError):
    """A filter's input or result is beyond the value bounds."""


class SendContext(RenderContext):
    """The render context of one field: carries the shortener and counts loop iterations
    across the whole render (python-liquid only bounds the nesting product)."""

    __slots__ = ("shortener", "iterations")

    def __init__(self, template: BoundTemplate, *, globals: Mapping[str, object],  # noqa: A002
                 shortener: Shortener | None) -> None:
        super().__init__(template, globals=globals)
        self.shortener = shortener
        self.iterations = 0

    def raise_for_loop_limit(self, length: int = 1) -> None:
        self.iterations += length
        if self.iterations > MAX_LOOP_ITERATIONS:
            raise LoopIterationLimitError("loop iteration limit reached", token=None)
        super().raise_for_loop_limit(length)


def _size_problem(value: object) -> str | None:
    if isinstance(value, LiquidUndefined):
        return None  # its own rules apply (an error, or the default filter's value)
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        return f"a number of more than {MAX_INT_BITS} bits is beyond the limit"
    if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
        return f"a value of {len(value)} characters is beyond the limit of {MAX_VALUE_CHARS}"
    if isinstance(value, Sized) and not isinstance(value, str) and len(value) > MAX_VALUE_ITEMS:
        return f"a list of {len(value)} items is beyond the limit of {MAX_VALUE_ITEMS}"
    return None


def _growth_problem(name: str, value: object, args: tuple[Any, ...]) -> str | None:
    """Refuse, before it runs, a replace or join whose result would pass the bounds."""
    if name.startswith("replace") and len(args) >= 2:
        text, old, new = str(value), str(args[0]), str(args[1])
        count = 1 if name != "replace" else (len(text) + 1 if old == "" else text.count(old))
        if len(text) + count * len(new) > MAX_VALUE_CHARS:
            return f"{name} would produce more than {MAX_VALUE_CHARS} characters"
    if name == "join" and args and isinstance(value, Sized) and not isinstance(value, (str, Mapping)):
        if len(str(args[0])) * len(value) > MAX_VALUE_CHARS:
            return f"join would produce more than {MAX_VALUE_CHARS} characters"
    return None


def _bounded(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)
    def bounded(value: object, *args: Any, **kwargs: Any) -> Any:
        problem = _size_problem(value) or _growth_problem(name, value, args)
        if problem is None:
            problem = next(filter(None, map(_size_problem, args)), None)
        if problem:
            raise TooLarge(problem, token=None)
        try:
            result = func(value, *args, **kwargs)
        except (ArithmeticError, ValueError, TypeError) as err:
            # python-liquid lets some of these through (a sum of text, an infinite float
            # made whole); they fail this message, in words, like any filter error.
            raise FilterValueError(f"{name} cannot take this value", token=None) from err
        problem = _size_problem(result)
        if problem:
            raise TooLarge(problem, token=None)
        return result
    return bounded


def is_web_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


@with_context
def short_link(value: object, *, context: RenderContext) -> str:
    """``{{ "https://shop.example/p/1" | short_link }}``: the recipient's own short URL, so a
    click is attributed to them and this message; the URL itself when no shortener is given
    (a preview)."""
    url = str(value)
    if not is_web_url(url):
        raise FilterValueError("short_link takes an http or https URL", token=None)
    shortener = getattr(context, "shortener", None)
    if shortener is None:
        return url
    try:
        return shortener(url)
    except ValueError as err:  # the shortener says why in words
        raise FilterValueError(f"short_link takes {err}", token=None) from None


class SendEnvironment(Environment):
    """Strict undefined, strict filters, bounded; ``html=True`` escapes values (HTML email)."""

    loop_iteration_limit = MAX_LOOP_ITERATIONS
    output_stream_limit = MAX_OUTPUT_BYTES
    local_namespace_limit = MAX_LOCALS_BYTES
    block_nesting_limit = MAX_NESTING
    context_depth_limit = MAX_NESTING

    def __init__(self, *, html: bool = False) -> None:
        super().__init__(undefined=Undefined, strict_filters=True, autoescape=html)

    def setup_tags_and_filters(self, *, extra: bool = False) -> None:
        super().setup_tags_and_filters(extra=False)
        for tag in DISABLED_TAGS:
            self.tags.pop(tag, None)
        registered = dict(self.filters)
        registered["short_link"] = short_link
        self.filters = {name: _bounded(name, registered[name]) for name in sorted(ALLOWED_FILTERS)}


PLAIN = SendEnvironment()
HTML = SendEnvironment(html=True)
