"""Published defaults of a provider kind (rate limit, batch size, cost per message).

An account's own settings win; a default fills only what the account leaves unset, so
``ProviderConfig.rate_limit`` / ``cost_per_message`` read the provider's published value
when the workspace gave none. Each adapter declares its ``DEFAULTS`` with their sources.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from chalicelib.providers.base import ProviderConfig


def with_defaults(config: ProviderConfig, defaults: Mapping[str, Any]) -> ProviderConfig:
    missing = {k: v for k, v in defaults.items() if config.settings.get(k) is None}
    return replace(config, settings={**config.settings, **missing}) if missing else config
