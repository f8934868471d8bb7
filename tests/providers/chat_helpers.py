"""Helpers shared by the chat adapters' tests: a provider pointed at the local server,
its credentials stored, and outgoing messages."""
from __future__ import annotations

import json
import uuid
from typing import Any

from chalicelib import aws
from chalicelib.providers.base import Callback, Outgoing, Provider, ProviderConfig, build


def make_provider(httpserver: Any, kind: str, channel: str, settings: dict[str, Any],
                  credentials: dict[str, str] | None, name: str = "chat") -> Provider:
    config = ProviderConfig("ws_" + uuid.uuid4().hex[:12], name, kind, channel,
                            {**settings, "endpoint": httpserver.url_for("/")})
    if credentials is not None:
        aws.secretsmanager().create_secret(Name=config.secret_id(), SecretString=json.dumps(credentials))
    return build(config)


def outgoing(provider: Provider, to: str | None, content: dict[str, Any], user_id: str = "u1",
             channel: str | None = None) -> Outgoing:
    ws = provider.config.workspace_id
    return Outgoing(workspace_id=ws, message_key=f"{ws}#task#tsk_1#03|user#{user_id}",
                    idempotency_key=f"idem-{user_id}", user_id=user_id, channel=channel or provider.config.channel,
                    to=to, content=content)


def callback(method: str, body: bytes = b"", headers: dict[str, str] | None = None,
             query: dict[str, str] | None = None) -> Callback:
    return Callback(method=method, url="https://api.example.com/v1/receipts/chat?ws=ws_1",
                    headers={k.lower(): v for k, v in (headers or {}).items()}, query=query or {}, body=body)
