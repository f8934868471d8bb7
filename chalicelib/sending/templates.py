"""Templates: review-time checks, rendering for one recipient, and the review state machine.

Pure: no I/O. ``check`` finds at review time what would fail for every recipient (syntax,
unknown filters, variables outside ``profile``/``event``/``message`` and the declared
ones); ``render`` renders every Liquid field for one recipient, bounded, and fails with
the reasons (a missing value without a declared default names the variable); the review
functions move a template between ``pending_review``, ``approved`` and ``rejected``, and
only an approved template is ``sendable``.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import lru_cache
from typing import Any

from liquid.exceptions import (
    ContextDepthError, LiquidError, LiquidSyntaxError, LocalNamespaceLimitError, LoopIterationLimitError,
    OutputStreamLimitError, UndefinedError,
)
from liquid.template import BoundTemplate

from chalicelib import clock
from chalicelib.errors import FieldError, Invalid
from chalicelib.schemas import field_path
from chalicelib.sending import liquid_env, review
from chalicelib.sending.content import ROOTS, TemplateSpec, liquid_sources
from chalicelib.sending.liquid_env import SendContext, SendEnvironment, Shortener

MAX_REASON = review.MAX_REASON


# --- review-time checks -------------------------------------------------------------------

def check(spec: TemplateSpec) -> list[FieldError]:
    """The problems every recipient would hit, each naming its field and line."""
    allowed = set(ROOTS) | {name.split(".", 1)[0] for name in spec.variables}
    errors: list[FieldError] = []
    for path, source, html in liquid_sources(spec):
        try:
            template = _parse(source, html)
        except LiquidError as err:
            errors.append(FieldError(path, f"is not valid Liquid: {_syntax(err, source, html)}"))
            continue
        analysis = template.analyze(include_partials=False)
        for name, spans in sorted(analysis.filters.items()):
            if name not in liquid_env.ALLOWED_FILTERS:
                errors.append(FieldError(path, f"uses the unknown filter '{name}' (line {_line(source, spans[0].index)})"))
        for root, found in sorted(analysis.globals.items()):
            if root not in allowed:
                errors.append(FieldError(path, (
                    f"uses the unknown variable '{found[0]}' (line {_line(source, found[0].span.index)}); variables "
                    f"begin with {', '.join(ROOTS)}, or are declared in the template's variables")))
    return errors


def _syntax(err: LiquidError, source: str, html: bool) -> str:
    """A syntax error with its line. Errors found at the end of the input (an unclosed
    block, an output cut short) carry no position in python-liquid: the line is then the
    shortest run of leading lines that already fails the same way (a binary search)."""
    where = err.context()
    if where:
        return f"{err.message} (line {where[0]})"
    lines = source.splitlines(keepends=True)
    low, high = 1, len(lines)
    while low < high:
        middle = (low + high) // 2
        try:
            _parse("".join(lines[:middle]), html)
            low = middle + 1
        except LiquidError as prefix_err:
            if prefix_err.message == err.message:
                high = middle
            else:
                low = middle + 1
    return f"{err.message} (line {low})"


def _line(source: str, index: int) -> int:
    return source.count("\n", 0, max(index, 0)) + 1


@lru_cache(maxsize=512)
def _parse(source: str, html: bool) -> BoundTemplate:
    """Parsed once per process: the sender renders one template for many recipients."""
    env: SendEnvironment = liquid_env.HTML if html else liquid_env.PLAIN
    return env.from_string(source)


_LIMITS: dict[type[LiquidError], str] = {
    LoopIterationLimitError: f"loops run more than {liquid_env.MAX_LOOP_ITERATIONS} iterations",
    OutputStreamLimitError: f"the result is longer than {liquid_env.MAX_OUTPUT_BYTES} bytes",
    LocalNamespaceLimitError: f"assigned values take more than {liquid_env.MAX_LOCALS_BYTES} bytes",
    ContextDepthError: "blocks are nested too deeply",
}
_UNDEFINED = re.compile(r"^'?(?P<name>.+?)'? is undefined$")


def _describe(err: LiquidError) -> str:
    """A Liquid error in words, with its line when known."""
    message = next((words for kind, words in _LIMITS.items() if isinstance(err, kind)), None)
    if message is None and isinstance(err, UndefinedError):
        found = _UNDEFINED.match(str(err.message))
        name = found.group("name") if found else str(err.message)
        message = f"the variable {name} has no value for this recipient and no declared default"
    if message is None:
        message = str(err.message)
    where = err.context()
    return f"{message} (line {where[0]})" if where and not isinstance(err, tuple(_LIMITS)) else message


# --- rendering ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Recipient:
    """What a template may read, as plain data. ``profile``: user_id, attributes, tags and
    the channel addresses it has; ``event``: the triggering event's properties, if any;
    ``message``: ids (message, task, journey, node) and ``unsubscribe_url`` (the signed link
    that unsubscribes the message's address; the sender sets it); ``values``: values of declared
    top-level variables given by the task or journey."""

    profile: Mapping[str, Any]
    event: Mapping[str, Any] | None = None
    message: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, Any] = field(default_factory=dict)


def profile_data(user_id: str, attributes: Mapping[str, Any], channels: Mapping[str, Any],
                 tags: Sequence[str]) -> dict[str, Any]:
    """A profile as templates see it: addresses it lacks are absent (so they are missing
    values, not empty strings)."""
    data: dict[str, Any] = {"user_id": user_id, "attributes": dict(attributes), "tags": sorted(tags)}
    data.update({name: value for name, value in channels.items() if value is not None})
    return data


class RenderFailed(Exception):
    """The message cannot be rendered for this recipient; ``errors`` name the fields."""

    def __init__(self, errors: list[FieldError]):
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @property
    def reason(self) -> str:
        return str(self)


def render(spec: TemplateSpec, recipient: Recipient, *, shortener: Shortener | None = None) -> dict[str, Any]:
    """The message content for one recipient: the template's fields with every Liquid
    source rendered. Raises RenderFailed with every field that failed."""
    data = _context(spec, recipient)
    errors: list[FieldError] = []
    rendered: dict[str, str] = {}
    for path, source, html in liquid_sources(spec):
        try:
            rendered[path] = _render_one(_parse(source, html), data, shortener)
        except LiquidError as err:
            errors.append(FieldError(path, _describe(err)))
    if errors:
        raise RenderFailed(errors)
    content = spec.model_dump(exclude_none=True, exclude={"name", "provider", "variables"})
    return _substitute(content, (), rendered)


def _render_one(template: BoundTemplate, data: Mapping[str, object], shortener: Shortener | None) -> str:
    context = SendContext(template, globals=data, shortener=shortener)
    buffer = template._get_buffer()  # the output-limited buffer of its environment
    template.render_with_context(context, buffer)
    return buffer.getvalue()


def _substitute(value: Any, loc: tuple[str | int, ...], rendered: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return rendered.get(field_path(loc), value)
    if isinstance(value, dict):
        return {key: _substitute(item, loc + (key,), rendered) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, loc + (index,), rendered) for index, item in enumerate(value)]
    return value


def _context(spec: TemplateSpec, recipient: Recipient) -> dict[str, Any]:
    """The render context: the recipient's data, with declared defaults filling missing
    values (a value that is present, even empty, is kept)."""
    data: dict[str, Any] = {"profile": dict(recipient.profile), "message": dict(recipient.message)}
    if recipient.event is not None:
        data["event"] = dict(recipient.event)
    for name, value in recipient.values.items():
        if name not in data and "." not in name:
            data[name] = value
    for name, default in spec.variables.items():
        _set_default(data, name.split("."), default)
    return data


def _set_default(data: dict[str, Any], path: list[str], default: Any) -> None:
    node = data
    for part in path[:-1]:
        child = node.get(part)
        if child is None:
            child = {}
        elif isinstance(child, dict):
            child = copy.copy(child)  # never change the caller's data
        else:
            return  # not a map: the template's own use of it decides
        node[part] = child
        node = child
    if node.get(path[-1]) is None:
        node[path[-1]] = default


# --- review -----------------------------------------------------------------------------------

Status = review.Status


@dataclass(frozen=True)
class Template:
    id: str
    spec: TemplateSpec
    status: Status
    version: int
    created_at: str
    updated_at: str
    reason: str | None = None
    reviewed_at: str | None = None


def new(template_id: str, spec: TemplateSpec, now: datetime) -> Template:
    """A new template, version 1, pending review; refused (400) if check finds problems."""
    _checked(spec)
    stamp = clock.iso(now)
    return Template(id=template_id, spec=spec, status=Status.PENDING_REVIEW, version=1, created_at=stamp,
                    updated_at=stamp)


def edit(template: Template, spec: TemplateSpec, now: datetime) -> Template:
    """The edited template: a new version, back to pending review whatever it was. An edit
    that changes nothing changes nothing (a retried PUT does not revoke an approval)."""
    if spec.channel != template.spec.channel:
        raise Invalid("channel", f"a template's channel cannot change (it is {template.spec.channel})")
    if spec == template.spec:
        return template
    _checked(spec)
    return replace(template, spec=spec, status=Status.PENDING_REVIEW, version=template.version + 1,
                   reason=None, reviewed_at=None, updated_at=clock.iso(now))


def approve(template: Template, now: datetime, *, version: int | None = None) -> Template:
    """Approved: from pending review only. ``version`` (what the reviewer read) guards
    against approving an edit the reviewer has not seen."""
    review.ensure_reviewable(template, "approved", version, what="template")
    _checked(template.spec)
    return review.approve(template, now, version=version, what="template")


def reject(template: Template, reason: str, now: datetime, *, version: int | None = None) -> Template:
    """Rejected with a reason: from pending review only."""
    return review.reject(template, reason, now, version=version, what="template")


def sendable(template: Template) -> bool:
    """Only an approved template is ever sent."""
    return review.approved(template)


def _checked(spec: TemplateSpec) -> None:
    errors = check(spec)
    if errors:
        raise Invalid(errors=errors)
