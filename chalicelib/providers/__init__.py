"""Channel providers: one adapter per provider kind behind ``providers.base.Provider``.

Importing this package registers the built-in kinds.
"""
from chalicelib.providers import sandbox  # noqa: F401 - registers the kind
from chalicelib.providers import webhook  # noqa: F401 - registers the kind
from chalicelib.providers import kafka  # noqa: F401 - registers the kind
from chalicelib.providers import wechat_oa  # noqa: F401 - registers the kind
from chalicelib.providers import umeng  # noqa: F401 - registers the kind
from chalicelib.providers import whatsapp  # noqa: F401 - registers the kind
from chalicelib.providers import viber  # noqa: F401 - registers the kind
from chalicelib.providers.base import Outgoing, Provider, ProviderConfig, Result, build, register

__all__ = ["Outgoing", "Provider", "ProviderConfig", "Result", "build", "register"]
