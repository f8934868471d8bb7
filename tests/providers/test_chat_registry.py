"""The chat adapters are registered under the kinds the provider registry declares."""
from __future__ import annotations

import pytest

import chalicelib.providers  # noqa: F401 - registers the kinds
from chalicelib.providers import base
from chalicelib.sending.providers_config import KINDS


@pytest.mark.parametrize("kind", ["wechat_oa", "umeng", "whatsapp", "viber"])
def test_each_chat_kind_has_an_adapter_with_the_declared_channels_and_batch_ceiling(kind):
    adapter = base.kinds()[kind]
    assert adapter.channels == frozenset(KINDS[kind].channels)
    assert adapter.max_batch == KINDS[kind].max_batch
