"""Channel providers: one adapter per provider kind behind ``providers.base.Provider``.

Importing this package registers the built-in kinds.
"""
from chalicelib.providers import sandbox  # noqa: F401 - registers the kind
from chalicelib.providers import webhook  # noqa: F401 - registers the kind
from chalicelib.providers import kafka  # noqa: F401 - registers the kind
from chalicelib.providers import ses  # noqa: F401 - registers the kind
from chalicelib.providers import sms_aws  # noqa: F401 - registers the kind
from chalicelib.providers import sns  # noqa: F401 - registers the kind
from chalicelib.providers import smtp  # noqa: F401 - registers the kind
from chalicelib.providers import aliyun_sms  # noqa: F401 - registers the kind
from chalicelib.providers import aliyun_card_sms  # noqa: F401 - registers the kind
from chalicelib.providers import aliyun_dm  # noqa: F401 - registers the kind
from chalicelib.providers import twilio  # noqa: F401 - registers the kind
from chalicelib.providers import http_sms  # noqa: F401 - registers the kind
from chalicelib.providers import wechat_oa  # noqa: F401 - registers the kind
from chalicelib.providers import umeng  # noqa: F401 - registers the kind
from chalicelib.providers import whatsapp  # noqa: F401 - registers the kind
from chalicelib.providers import viber  # noqa: F401 - registers the kind
from chalicelib.providers.base import Outgoing, Provider, ProviderConfig, Result, build, register

__all__ = ["Outgoing", "Provider", "ProviderConfig", "Result", "build", "register"]
