"""Provider configurations whose credentials are given in the test (not Secrets Manager)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chalicelib.providers.base import Outgoing, ProviderConfig, build


@dataclass(frozen=True)
class StubConfig(ProviderConfig):
    given: dict[str, Any] = field(default_factory=dict)

    def credentials(self) -> dict[str, Any]:
        return dict(self.given)


def make(kind: str, channel: str, settings: dict[str, Any], credentials: dict[str, Any], endpoint: str | None = None,
         name: str = "main", workspace_id: str = "ws1"):
    settings = dict(settings)
    if endpoint:
        settings["endpoint"] = endpoint
    return build(StubConfig(workspace_id=workspace_id, name=name, kind=kind, channel=channel, settings=settings,
                            given=credentials))


def outgoing(n: int, channel: str = "sms", to: str | None = "+8613800000000", workspace_id: str = "ws1",
             **content: Any) -> Outgoing:
    return Outgoing(workspace_id=workspace_id, message_key=f"pk|m{n}", idempotency_key=f"key-{n}", user_id=f"u{n}",
                    channel=channel, to=to, content={"channel": channel, **content})
