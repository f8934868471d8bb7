"""What a template holds, per channel: typed, size-capped, with its Liquid fields named.

A template body is flat and discriminated by ``channel``, as the API takes it:
``{"channel": "email", "name": "welcome", "subject": "Hi {{ profile.attributes.first_name }}",
"html": "...", "variables": {"profile.attributes.first_name": "there"}}``.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal, Union

from pydantic import AfterValidator, Field, TypeAdapter, ValidationError, model_validator

from chalicelib import storable
from chalicelib.errors import FieldError, Invalid
from chalicelib.schemas import (
    JsonBool, JsonFloat, JsonInt, Request, StorableMap, _message, field_path, refuse, rule,
)

ROOTS = ("profile", "event", "message")
CHANNELS = ("sms", "email", "push", "wechat", "wechat_template", "whatsapp", "viber", "webhook")
MAX_VARIABLES = 50
MAX_DEFAULT_CHARS = 1024
MAX_WEBHOOK_BODY_BYTES = 65_536

NAME = rule(r"^[^\x00-\x1f\x7f]{1,128}$", "a name is 1-128 characters without control characters")
EXTERNAL_ID = rule(r"^[^\x00-\x1f\x7f]{1,256}$", "a provider template id is 1-256 characters without control characters")
PROVIDER = rule(r"^[a-z0-9][a-z0-9_-]{0,63}$",
                "a provider name is 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit")
VARIABLE_WORDS = ("a variable is a name of letters, digits and '_' (starting with a letter or '_'), or a path of "
                  "such names joined by '.' such as profile.attributes.first_name")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}(\.[A-Za-z_][A-Za-z0-9_\-]{0,63}){0,7}$")
WECHAT_TEMPLATE_ID = rule(r"^[A-Za-z0-9_\-]{1,128}$",
                          "a WeChat template id is 1-128 letters, digits, '_' or '-'")
WECHAT_KEY = rule(r"^[A-Za-z][A-Za-z0-9_]{0,31}$",
                  "a WeChat template key is 1-32 letters, digits or '_', starting with a letter (e.g. thing1)")
WHATSAPP_NAME = rule(r"^[a-z0-9_]{1,512}$", "a WhatsApp template name is 1-512 lowercase letters, digits or '_'")
LANGUAGE = rule(r"^[a-z]{2,3}(_[A-Z]{2})?$", "a language code such as en or en_US")
PUSH_KEY = rule(r"^[A-Za-z0-9_.\-]{1,64}$", "a data key is 1-64 letters, digits, '_', '.' or '-'")
_SIGN_CHAR = r"[^\s\x00-\x1f\x7f/\[\]【】]"
SIGNATURE = rule(rf"^{_SIGN_CHAR}(?:[^\x00-\x1f\x7f/\[\]【】]{{0,30}}{_SIGN_CHAR})?$",
                 "a signature is 1-32 characters without control characters, '/', brackets or spaces at either end "
                 "(the provider adds the brackets)")
MATERIAL_ID = rule(r"^mat[0-9a-z]{16}$", "a material id as the API returned it (mat and 16 letters or digits)")
MAX_MEDIA = 10
WEB_URL = rule(r"^https?://[^\s/?#]+[^\s]*$", "an http or https URL")


def _variables(value: dict[str, Any]) -> dict[str, Any]:
    if len(value) > MAX_VARIABLES:
        refuse([((), f"at most {MAX_VARIABLES} declared variables ({len(value)} given)")])
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name in value:
        if not VARIABLE.fullmatch(name):
            problems.append(((name,), VARIABLE_WORDS))
        elif name in ROOTS:
            problems.append(((name,), f"{name} itself cannot be declared; declare a value inside it, "
                                      f"such as {name}.attributes.first_name"))
    if problems:
        refuse(problems)
    return value


def _webhook_body(value: dict[str, Any]) -> dict[str, Any]:
    size = storable.json_size(value)
    if size > MAX_WEBHOOK_BODY_BYTES:
        refuse([((), f"takes {size} bytes as JSON; at most {MAX_WEBHOOK_BODY_BYTES}")])
    return value


Default = Union[JsonBool, JsonInt, JsonFloat, Annotated[str, Field(max_length=MAX_DEFAULT_CHARS)]]
Liquid = Annotated[str, Field(min_length=1)]


class _Common(Request):
    name: str = Field(pattern=NAME)
    provider: str | None = Field(None, pattern=PROVIDER)
    external_id: str | None = Field(None, pattern=EXTERNAL_ID, description=(
        "the provider-side template: Alibaba Cloud TemplateCode, WhatsApp template name, WeChat template id"))
    variables: Annotated[dict[str, Default], AfterValidator(_variables)] = Field(default_factory=dict)

    # The fields rendered with Liquid (each may be a string, or a map or list of strings).
    LIQUID: ClassVar[tuple[str, ...]] = ()
    # Fields rendered as HTML (values escaped).
    HTML: ClassVar[tuple[str, ...]] = ()


class SmsTemplate(_Common):
    channel: Literal["sms"]
    body: Annotated[Liquid, Field(max_length=2_000)]
    signature: str | None = Field(None, pattern=SIGNATURE, description="an SMS signature; sent only once approved")
    media: list[Annotated[str, Field(pattern=MATERIAL_ID)]] | None = Field(
        None, min_length=1, max_length=MAX_MEDIA, description="material ids (digital SMS); each must be ready")
    params: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[Liquid, Field(max_length=500)]] | None = Field(
        None, max_length=30, description="values of the provider template's variables (Alibaba Cloud TemplateParam), "
                                         "each rendered with Liquid")
    fallback_external_id: str | None = Field(None, pattern=EXTERNAL_ID,
                                             description="card SMS: the plain SMS template sent where cards cannot show")
    digital_external_id: str | None = Field(None, pattern=EXTERNAL_ID,
                                            description="card SMS: the digital SMS template of the DIGITALSMS fallback")
    LIQUID = ("body", "params")


class EmailTemplate(_Common):
    channel: Literal["email"]
    subject: Annotated[Liquid, Field(max_length=998)]
    html: Annotated[Liquid, Field(max_length=100_000)] | None = None
    text: Annotated[Liquid, Field(max_length=50_000)] | None = None
    LIQUID = ("subject", "html", "text")
    HTML = ("html",)

    @model_validator(mode="after")
    def _a_body(self) -> "EmailTemplate":
        if self.html is None and self.text is None:
            refuse([(("html",), "an email template needs html, text or both")])
        return self


class PushTemplate(_Common):
    channel: Literal["push"]
    title: Annotated[Liquid, Field(max_length=256)]
    body: Annotated[Liquid, Field(max_length=2_048)]
    data: dict[Annotated[str, Field(pattern=PUSH_KEY)], Annotated[str, Field(max_length=1_024)]] | None = \
        Field(None, max_length=20)
    media: list[Annotated[str, Field(pattern=MATERIAL_ID)]] | None = Field(
        None, min_length=1, max_length=1, description="the material id of the notification's image or Lottie animation")
    LIQUID = ("title", "body", "data")


class WechatTemplate(_Common):
    """A WeChat text message (customer-service message)."""

    channel: Literal["wechat"]
    body: Annotated[Liquid, Field(max_length=2_048)]
    LIQUID = ("body",)


class WechatTemplateMessage(_Common):
    """A WeChat template message: the template registered with WeChat, and its data."""

    channel: Literal["wechat_template"]
    external_id: str = Field(pattern=WECHAT_TEMPLATE_ID)
    data: dict[Annotated[str, Field(pattern=WECHAT_KEY)], Annotated[Liquid, Field(max_length=1_024)]] = \
        Field(min_length=1, max_length=30)
    url: Annotated[Liquid, Field(max_length=2_048)] | None = None
    LIQUID = ("data", "url")


class WhatsappTemplate(_Common):
    """A WhatsApp template message: the approved template's name, language and parameters."""

    channel: Literal["whatsapp"]
    external_id: str = Field(pattern=WHATSAPP_NAME)
    language: str = Field(pattern=LANGUAGE)
    params: list[Annotated[Liquid, Field(max_length=1_024)]] = Field(default_factory=list, max_length=20)
    LIQUID = ("params",)


class ViberButton(Request):
    text: Annotated[Liquid, Field(max_length=30)]
    url: Annotated[Liquid, Field(max_length=2_048)]


class ViberTemplate(_Common):
    channel: Literal["viber"]
    body: Annotated[Liquid, Field(max_length=1_000)]
    image_url: str | None = Field(None, pattern=WEB_URL, max_length=2_048)
    button: ViberButton | None = None
    LIQUID = ("body", "button")


class WebhookTemplate(_Common):
    """A JSON body whose string values are Liquid templates (keys are taken as written)."""

    channel: Literal["webhook"]
    body: Annotated[StorableMap, AfterValidator(_webhook_body)]
    LIQUID = ("body",)


TemplateSpec = Annotated[
    Union[SmsTemplate, EmailTemplate, PushTemplate, WechatTemplate, WechatTemplateMessage, WhatsappTemplate,
          ViberTemplate, WebhookTemplate],
    Field(discriminator="channel"),
]
_ADAPTER: TypeAdapter[Any] = TypeAdapter(TemplateSpec)


def parse(data: Any) -> TemplateSpec:
    """A request body as the channel's template, or a 400 naming each bad field."""
    if not isinstance(data, dict):
        raise Invalid("body", "must be a JSON object")
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        errors = []
        for error in exc.errors():
            loc = error["loc"]
            if error["type"] in ("union_tag_not_found", "union_tag_invalid"):
                message = "is required" if error["type"] == "union_tag_not_found" else "is not a channel"
                errors.append(FieldError("channel", f"{message}; one of {', '.join(CHANNELS)}"))
                continue
            if loc and loc[0] in CHANNELS:
                loc = loc[1:]
            errors.append(FieldError(field_path(loc), _message(error)))
        raise Invalid(errors=errors) from None


def liquid_sources(spec: TemplateSpec) -> list[tuple[str, str, bool]]:
    """Every Liquid source in the template: (field path, source, rendered as HTML)."""
    found: list[tuple[str, str, bool]] = []
    for name in spec.LIQUID:
        _collect(getattr(spec, name), (name,), name in spec.HTML, found)
    return found


def _collect(value: Any, loc: tuple[str | int, ...], html: bool, found: list[tuple[str, str, bool]]) -> None:
    if isinstance(value, str):
        found.append((field_path(loc), value, html))
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(item, loc + (key,), html, found)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _collect(item, loc + (index,), html, found)
    elif hasattr(value, "model_dump"):
        _collect(value.model_dump(exclude_none=True), loc, html, found)
