"""Provider accounts (API management): which kinds exist, what settings and credentials
each takes, and the checks on them. Pure: storage is ``repo_providers``.

Settings every kind understands (API.md): ``rate_limit`` (messages per second, across
every concurrent sender), ``batch_size``, ``cost_per_message`` (for analytics) and
``endpoint`` (a base URL: private gateways, tests). Credentials go to Secrets Manager and
are never returned or logged; the API answers only which credential fields are set.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, field_validator, model_validator

from chalicelib.errors import FieldError, Invalid
from chalicelib.schemas import JsonFloat, JsonInt, Request, Response, rule

NAME = rule(r"^[a-z0-9][a-z0-9_-]{0,63}$",
            "a provider name is 1-64 lowercase letters, digits, '_' or '-', starting with a letter or digit")
URL = rule(r"^https?://[^\s/?#]+[^\s]*$", "an http or https URL")


@dataclass(frozen=True)
class Kind:
    """A provider kind: the channels it sends on, its own settings and its credentials."""

    channels: tuple[str, ...]
    settings: dict[str, type | tuple[type, ...]] = field(default_factory=dict)
    credentials: tuple[str, ...] = ()
    required_settings: tuple[str, ...] = ()
    max_batch: int = 1
    # The provider's published defaults, used when the account sets none (sources in
    # docs/providers.md): messages per second, and cost per message.
    rate_limit: float | None = None
    cost_per_message: float | None = None


SMS, EMAIL = ("sms",), ("email",)
ALIYUN = ("access_key_id", "access_key_secret")
KINDS: dict[str, Kind] = {
    "sandbox": Kind(("sms", "email", "push", "wechat", "wechat_template", "whatsapp", "viber", "webhook"),
                    {"failure_rate": (int, float), "open_rate": (int, float), "click_rate": (int, float),
                     "receipt_delay_seconds": (int, float)}, ("receipt_secret",), max_batch=100),
    "ses": Kind(EMAIL, {"from_address": str, "configuration_set": str, "region": str, "sns_topic_arn": str},
                required_settings=("from_address",), max_batch=50),
    "sms_aws": Kind(SMS, {"origination_identity": str, "configuration_set": str, "message_type": str, "region": str},
                    max_batch=20),
    "sns": Kind(SMS, {"sender_id": str, "message_type": str, "region": str}, max_batch=20),
    "smtp": Kind(EMAIL, {"host": str, "port": int, "from_address": str, "starttls": bool, "ssl": bool},
                 ("username", "password"), ("host", "from_address"), max_batch=50),
    "webhook": Kind(("webhook",), {"url": str, "timeout_seconds": (int, float)}, ("signing_secret",), ("url",),
                    max_batch=20),
    "kafka": Kind(("webhook",), {"bootstrap_servers": str, "topic": str, "security_protocol": str,
                                 "sasl_mechanism": str, "timeout_seconds": (int, float)},
                  ("sasl_username", "sasl_password"), ("bootstrap_servers",), max_batch=100),
    # aliyun_*: chalicelib/providers/aliyun_sms.py, aliyun_card_sms.py, aliyun_dm.py (docs/providers.md).
    # callback_token protects the unsigned SmsReport push (?token= in the receipts URL).
    # SendBatchSms: up to 100 numbers per call; CNY 0.045 a message at the first tier of the
    # mainland price list; no published rate limit we could confirm.
    "aliyun_sms": Kind(SMS, {"sign_name": str, "region": str}, ALIYUN + ("callback_token",), ("sign_name",),
                       max_batch=100, cost_per_message=0.045),
    # SendCardSms: 1000 requests/s per user; SendBatchCardSms: 100 numbers; priced per card by contract.
    "aliyun_card_sms": Kind(SMS, {"sign_name": str, "region": str, "fallback_type": str, "sms_up_extend_code": str,
                                 "check_support": bool},
                            ALIYUN + ("callback_token",), ("sign_name",), max_batch=100, rate_limit=1000.0),
    "aliyun_dm": Kind(EMAIL, {"account_name": str, "from_alias": str, "region": str, "tag_name": str,
                              "click_trace": bool, "reply_to": bool}, ALIYUN, ("account_name",), max_batch=50),
    # A US/Canada long code sends one segment a second ("How quickly can I send SMS messages?");
    # prices vary by destination.
    "twilio": Kind(SMS + ("whatsapp",), {"from_number": str, "messaging_service_sid": str},
                   ("account_sid", "auth_token"), max_batch=50, rate_limit=1.0),
    "http_sms": Kind(SMS, {"url": str, "method": str, "headers": dict, "body": dict, "encoding": str,
                           "success_status": list, "success_path": str, "success_value": (str, int),
                           "id_path": str, "error_path": str, "receipt_id_path": str, "receipt_status_path": str,
                           "receipt_status_map": dict, "receipt_items_path": str, "receipt_encoding": str,
                           "receipt_auth": str, "receipt_signature_header": str},
                     ("token", "receipt_secret"), ("url",), max_batch=50),
    # WeChat charges nothing per message; its limits are daily quotas, not a rate.
    "wechat_oa": Kind(("wechat", "wechat_template"), {"app_id": str, "send_mode": str},
                      ("app_secret", "token", "encoding_aes_key"), ("app_id",), max_batch=1000, cost_per_message=0.0),
    # U-Push: listcast takes at most 500 device tokens; the basic service is free.
    "umeng": Kind(("push",), {"app_key": str, "platform": str, "production_mode": bool}, ("app_master_secret",),
                  ("app_key",), max_batch=500, cost_per_message=0.0),
    # WhatsApp Cloud API: 80 messages per second per business phone number by default
    # ("Throughput"); prices are per country and category, so no default cost.
    "whatsapp": Kind(("whatsapp",), {"phone_number_id": str, "api_version": str},
                     ("access_token", "app_secret", "verify_token"), ("phone_number_id",), max_batch=50, rate_limit=80.0),
    # Viber publishes no per-second limit (only 100 unanswered messages per user an hour)
    # and prices per country beyond the free monthly messages.
    "viber": Kind(("viber",), {"sender_name": str, "sender_avatar": str}, ("auth_token",), ("sender_name",),
                  max_batch=50),
}
RATES = ("failure_rate", "open_rate", "click_rate")


class ProviderPut(Request):
    """``PUT /v1/providers/{name}``: the whole account. Credentials are optional on a
    change: absent keeps the stored ones, given replaces them."""

    channel: str = Field(min_length=1, max_length=32)
    kind: str = Field(min_length=1, max_length=32)
    settings: dict[str, Any] = Field(default_factory=dict)
    credentials: dict[str, str] | None = Field(None, description="stored in Secrets Manager; never returned")
    rate_limit: JsonFloat | None = Field(None, gt=0, le=100_000, description="messages per second, all senders together")
    batch_size: JsonInt | None = Field(None, ge=1, le=1000)
    cost_per_message: JsonFloat | None = Field(None, ge=0, le=1000)
    endpoint: str | None = Field(None, pattern=URL, max_length=2048)

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: dict[str, str] | None) -> dict[str, str] | None:
        if value is not None and any(not v or len(v) > 4096 for v in value.values()):
            raise ValueError("each credential is 1-4096 characters")
        return value

    @model_validator(mode="after")
    def _fits_the_kind(self) -> "ProviderPut":
        errors = kind_problems(self)
        if errors:
            raise Invalid(errors=errors)
        return self


def kind_problems(put: ProviderPut) -> list[FieldError]:
    """Why these settings and credentials do not fit the kind (empty when they do)."""
    kind = KINDS.get(put.kind)
    if kind is None:
        return [FieldError("kind", f"one of {', '.join(sorted(KINDS))}")]
    errors = []
    if put.channel not in kind.channels:
        errors.append(FieldError("channel", f"a {put.kind} provider sends on {', '.join(kind.channels)}"))
    for name, value in put.settings.items():
        expected = kind.settings.get(name)
        if expected is None:
            known = ", ".join(sorted(kind.settings)) or "none"
            errors.append(FieldError(f"settings.{name}", f"is not a setting of {put.kind} (its settings: {known})"))
        elif isinstance(value, bool) and expected is not bool or not isinstance(value, expected):
            errors.append(FieldError(f"settings.{name}", "has the wrong type"))
        elif isinstance(value, str) and not 1 <= len(value) <= 1024:
            errors.append(FieldError(f"settings.{name}", "is 1-1024 characters"))
        elif name in RATES and not 0 <= value <= 1:
            errors.append(FieldError(f"settings.{name}", "is a rate from 0 to 1"))
        elif name == "receipt_delay_seconds" and not 0 <= value <= 86_400:
            errors.append(FieldError(f"settings.{name}", "is 0 to 86400 seconds"))
        elif name == "message_type" and value.lower() not in ("transactional", "promotional"):
            errors.append(FieldError(f"settings.{name}", "is transactional or promotional"))
    if not errors:
        errors += [FieldError(f"settings.{name}", message) for name, message in _kind_checks(put)]
    for name in kind.required_settings:
        if name not in put.settings:
            errors.append(FieldError(f"settings.{name}", f"is required for {put.kind}"))
    for name in (put.credentials or {}):
        if name not in kind.credentials:
            known = ", ".join(kind.credentials) or "none"
            errors.append(FieldError(f"credentials.{name}", f"is not a credential of {put.kind} (its credentials: {known})"))
    return errors


def _kind_checks(put: ProviderPut) -> list[tuple[str, str]]:
    """The checks of one kind's settings beyond their types."""
    if put.kind == "http_sms":
        from chalicelib.providers.http_sms import settings_problems

        return settings_problems(put.settings)
    if put.kind == "aliyun_card_sms" and put.settings.get("fallback_type", "SMS") not in ("SMS", "DIGITALSMS", "NONE"):
        return [("fallback_type", "one of SMS, DIGITALSMS, NONE")]
    if put.kind == "twilio" and not (put.settings.get("from_number") or put.settings.get("messaging_service_sid")):
        return [("from_number", "a Twilio provider needs from_number or messaging_service_sid")]
    return []


def missing_credentials(kind_name: str, stored: set[str]) -> list[str]:
    """The credentials the kind needs that are not stored."""
    return [c for c in KINDS[kind_name].credentials if c not in stored]


@dataclass(frozen=True)
class ProviderRecord:
    name: str
    channel: str
    kind: str
    settings: dict[str, Any]
    rate_limit: float | None
    batch_size: int | None
    cost_per_message: float | None
    endpoint: str | None
    credential_names: tuple[str, ...]  # which credentials are stored (their values never leave Secrets Manager)
    created_at: str
    updated_at: str
    version: int


class Provider(Response):
    name: str
    channel: str
    kind: str
    settings: dict[str, Any]
    rate_limit: float | None = None
    batch_size: int | None = None
    cost_per_message: float | None = None
    endpoint: str | None = None
    credentials_set: list[str] = Field(description="names of the stored credentials; values are never returned")
    credentials_missing: list[str] = Field(description="credentials the kind needs that are not stored yet")
    created_at: str
    updated_at: str


def to_api(record: ProviderRecord) -> Provider:
    return Provider(
        name=record.name, channel=record.channel, kind=record.kind, settings=record.settings,
        rate_limit=record.rate_limit, batch_size=record.batch_size, cost_per_message=record.cost_per_message,
        endpoint=record.endpoint, credentials_set=sorted(record.credential_names),
        credentials_missing=missing_credentials(record.kind, set(record.credential_names)),
        created_at=record.created_at, updated_at=record.updated_at,
    )


def published_defaults(kind_name: str) -> dict[str, float]:
    """The kind's published rate limit and cost per message, for an account that sets none."""
    kind = KINDS.get(kind_name)
    if kind is None:
        return {}
    found = {"rate_limit": kind.rate_limit, "cost_per_message": kind.cost_per_message}
    return {name: value for name, value in found.items() if value is not None}


def batch_size_of(record: ProviderRecord) -> int:
    """The batch the sender hands the provider: the account's setting, capped by the kind."""
    return min(record.batch_size or KINDS[record.kind].max_batch, KINDS[record.kind].max_batch)
