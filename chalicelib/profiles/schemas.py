"""Profile and tag schemas."""
from __future__ import annotations

import re
from typing import Annotated, Any

import phonenumbers
from pydantic import AfterValidator, Field, WithJsonSchema, field_validator, model_validator

from chalicelib import storable
from chalicelib.schemas import PageQuery, Request, Response, refuse, rule

USER_ID_RULE = ("a user id is 1-128 characters, without control characters, not starting or ending with "
                "whitespace")
# The same rule as a pattern, for the OpenAPI document and for code that matches ids. A
# leading '#' is fine: in a path the id is percent-encoded ('#1' is '%231').
USER_ID = r"^(?!\s)(?!.*\s$)[^\x00-\x1f\x7f-\x9f]{1,128}$"
ATTRIBUTE_NAME_WORDS = ("an attribute name is 1-64 characters: letters, digits, '_', '.' or '-', "
                        "starting with a letter or '_'")
ATTRIBUTE_NAME = re.compile(rule(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$", ATTRIBUTE_NAME_WORDS))
TAG_RULE = "a tag is 1-64 characters, without commas or control characters, not starting with whitespace"
TAG = r"^[^\s,\x00-\x1f\x7f-\x9f][^,\x00-\x1f\x7f-\x9f]{0,63}$"
E164 = rule(r"^\+[1-9][0-9]{6,14}$", "a phone number in E.164 form: '+' and 7-15 digits, e.g. +8613800138000")
EMAIL = rule(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$", "an email address such as someone@example.com")
CHANNELS = ("email", "phone", "push_token", "wechat_openid", "whatsapp", "viber")
MAX_ATTRIBUTES = 200
MAX_ATTRIBUTES_BYTES = 16_384
MAX_LIST_VALUES = 100
MAX_STRING = 2048

SCALARS = (str, bool, int, float)


def user_id_problem(value: str) -> str | None:
    """Why ``value`` is not a user id, in words, or None."""
    if not 1 <= len(value) <= 128 or value[0].isspace() or value[-1].isspace():
        return USER_ID_RULE
    if storable.has_control_character(value) or not storable.is_unicode(value):
        return USER_ID_RULE
    return None


def _user_id(value: str) -> str:
    problem = user_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


UserId = Annotated[str, AfterValidator(_user_id), WithJsonSchema(
    {"type": "string", "minLength": 1, "maxLength": 128, "pattern": USER_ID, "description": USER_ID_RULE})]


def _value_problem(value: Any) -> str | None:
    if not isinstance(value, SCALARS):
        return "an attribute value is a string, number, boolean or null, or a list of those"
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            return f"a string holds at most {MAX_STRING} characters"
        if not storable.is_unicode(value):
            return "a string must be valid Unicode (no lone surrogate escape such as \\ud800)"
    elif not isinstance(value, bool):
        return storable.number_problem(value)
    return None


def _check_attributes(value: dict[str, Any]) -> dict[str, Any]:
    """Each bad attribute is named (``attributes.plan``, ``attributes.scores[2]``)."""
    if len(value) > MAX_ATTRIBUTES:
        refuse([((), f"at most {MAX_ATTRIBUTES} attributes ({len(value)} given)")])
    problems: list[tuple[tuple[str | int, ...], str]] = []
    for name, item in value.items():
        if not ATTRIBUTE_NAME.fullmatch(name):
            problems.append(((name,), ATTRIBUTE_NAME_WORDS))
        elif isinstance(item, list):
            if len(item) > MAX_LIST_VALUES:
                problems.append(((name,), f"a list holds at most {MAX_LIST_VALUES} values"))
            for index, element in enumerate(item):
                message = _value_problem(element)
                if message:
                    problems.append(((name, index), message))
        elif item is not None:
            message = _value_problem(item)
            if message:
                problems.append(((name,), message))
    if problems:
        refuse(problems[:storable.MAX_PROBLEMS])
    size = storable.json_size(value)
    if size > MAX_ATTRIBUTES_BYTES:
        refuse([((), f"attributes take at most {MAX_ATTRIBUTES_BYTES} bytes as UTF-8 JSON ({size} given)")])
    return value


class ProfileUpsert(Request):
    """Merge semantics: given attributes are set, an attribute given as null is removed,
    absent ones are kept; a channel address given as null is removed."""

    attributes: dict[str, Any] = Field(default_factory=dict)
    email: str | None = Field(None, pattern=EMAIL, max_length=254)
    phone: str | None = Field(None, pattern=E164, description="E.164")
    push_token: str | None = Field(None, min_length=1, max_length=4096)
    wechat_openid: str | None = Field(None, min_length=1, max_length=128)
    whatsapp: str | None = Field(None, pattern=E164, description="E.164")
    viber: str | None = Field(None, min_length=1, max_length=128)

    _attrs = field_validator("attributes")(_check_attributes)


class ProfilesQuery(PageQuery):
    """``?email=`` or ``?phone=`` finds the profiles with that address instead of listing."""

    email: str | None = Field(None, pattern=EMAIL, max_length=254, description="any case")
    phone: str | None = Field(None, max_length=32, description="E.164, spaces and dashes allowed, e.g. +86 138 0013 8000")

    @field_validator("phone")
    @classmethod
    def _e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            number = phonenumbers.parse(value, None)
        except phonenumbers.NumberParseException:
            raise ValueError("a phone number in E.164 form: '+', the country code and the number") from None
        if not phonenumbers.is_possible_number(number):
            raise ValueError("not a possible phone number for its country code")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)

    @model_validator(mode="after")
    def _one_address(self) -> "ProfilesQuery":
        if self.email is not None and self.phone is not None:
            raise ValueError("give email or phone, not both")
        if self.cursor is not None and (self.email is not None or self.phone is not None):
            raise ValueError("a lookup by address answers in one page; cursor is for listing")
        return self


class ProfileBatchItem(ProfileUpsert):
    user_id: UserId


class ProfileBatch(Request):
    profiles: list[dict[str, Any]] = Field(min_length=1, max_length=1000)


class ItemError(Response):
    index: int
    user_id: str | None = None
    errors: list[dict[str, str]]


class ProfileBatchResult(Response):
    accepted: int
    errors: list[ItemError]


class EventStat(Response):
    count: int
    first_at: str
    last_at: str
    sums: dict[str, float] = Field(default_factory=dict, description="sums of numeric properties")


class Profile(Response):
    user_id: str
    attributes: dict[str, Any]
    email: str | None = None
    phone: str | None = None
    push_token: str | None = None
    wechat_openid: str | None = None
    whatsapp: str | None = None
    viber: str | None = None
    tags: list[str]
    created_at: str
    updated_at: str


class ProfileDetail(Profile):
    event_stats: dict[str, EventStat]


class TagsChange(Request):
    add: list[str] = Field(default_factory=list, max_length=50)
    remove: list[str] = Field(default_factory=list, max_length=50)

    @field_validator("add", "remove")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        bad: list[tuple[tuple[str | int, ...], str]] = [((i,), TAG_RULE) for i, tag in enumerate(value)
               if not re.fullmatch(TAG, tag) or not storable.is_unicode(tag)]
        if bad:
            refuse(bad)
        return value

    @model_validator(mode="after")
    def _sensible(self) -> "TagsChange":
        if not self.add and not self.remove:
            raise ValueError("give tags to add or remove")
        both = set(self.add) & set(self.remove)
        if both:
            raise ValueError(f"a tag cannot be both added and removed: {sorted(both)}")
        return self


class Tags(Response):
    user_id: str
    tags: list[str]
