"""Settings from the environment, read when first needed (not at import) and typed.

A launcher (the local stack, a test, a benchmark) may set the environment after
importing ``chalicelib``: nothing here reads it until a setting is first used.

In the cloud the merge template fills the table and queue variables (see
infra/resources.yaml, ``Globals``); locally the stack and the tests leave them unset
and the defaults name the resources the local stack creates from the same template.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any, cast

TABLES = ("workspaces", "profiles", "events", "channels", "messages", "audiences", "campaigns", "journeys",
          "schedule")
BUCKETS = ("uploads",)
QUEUES = ("events", "events-dlq", "sends", "sends-dlq", "audience-jobs", "audience-jobs-dlq", "receipts", "receipts-dlq",
          "steps", "steps-dlq")


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return int(raw) if raw else default


@dataclass(frozen=True)
class Settings:
    stage: str
    region: str
    resource_prefix: str
    tables: dict[str, str] = field(default_factory=dict)
    queues: dict[str, str] = field(default_factory=dict)
    max_body_bytes: int = 1_048_576
    default_event_retention_days: int = 365
    bootstrap_key: str | None = None
    bootstrap_key_secret_id: str | None = None
    log_level: str = "INFO"
    cors_origin: str = "*"
    unsubscribe_key: str | None = None  # MA_UNSUBSCRIBE_KEY (local); else the secret below
    unsubscribe_key_secret_id: str = ""  # "marketing-automation/<stage>/unsubscribe-key" unless set
    public_base_url: str = "http://127.0.0.1:8000"  # where /u/{token} links point (API Gateway URL in the cloud)
    buckets: dict[str, str] = field(default_factory=dict)
    audience_segment_items: int = 50_000  # table items one build segment scans (sizes TotalSegments)
    audience_max_segments: int = 1_000
    audience_inline_items: int = 5_000  # a table this small is scanned inline, without the queue
    audience_snapshot_grace_hours: int = 48  # a superseded snapshot stays readable this long

    def table(self, name: str) -> str:
        return self.tables[name]

    def bucket(self, name: str) -> str:
        return self.buckets[name]

    def queue(self, name: str) -> str:
        """The queue's URL (cloud) or name (local); aws.queue_url resolves either."""
        return self.queues[name]


def load(environ: os._Environ[str] | dict[str, str] | None = None) -> Settings:
    env = environ if environ is not None else os.environ
    prefix = env.get("MA_RESOURCE_PREFIX", "ma-local-")
    return Settings(
        stage=env.get("MA_STAGE", "local"),
        region=env.get("AWS_DEFAULT_REGION") or env.get("AWS_REGION") or "us-east-1",
        resource_prefix=prefix,
        tables={t: env.get(f"MA_TABLE_{t.upper()}", prefix + t) for t in TABLES},
        queues={q: env.get(f"MA_QUEUE_{q.upper().replace('-', '_')}", prefix + q) for q in QUEUES},
        buckets={b: env.get(f"MA_BUCKET_{b.upper()}", prefix + b) for b in BUCKETS},
        max_body_bytes=int(env.get("MA_MAX_BODY_BYTES") or 1_048_576),
        default_event_retention_days=int(env.get("MA_DEFAULT_EVENT_RETENTION_DAYS") or 365),
        bootstrap_key=env.get("MA_BOOTSTRAP_KEY") or None,
        bootstrap_key_secret_id=env.get("MA_BOOTSTRAP_KEY_SECRET_ID") or None,
        log_level=env.get("MA_LOG_LEVEL", "INFO"),
        cors_origin=env.get("MA_CORS_ORIGIN") or "*",
        unsubscribe_key=env.get("MA_UNSUBSCRIBE_KEY") or None,
        unsubscribe_key_secret_id=env.get("MA_UNSUBSCRIBE_KEY_SECRET_ID")
        or f"marketing-automation/{env.get('MA_STAGE', 'local')}/unsubscribe-key",
        public_base_url=(env.get("MA_PUBLIC_BASE_URL") or "http://127.0.0.1:8000").rstrip("/"),
        audience_segment_items=int(env.get("MA_AUDIENCE_SEGMENT_ITEMS") or 50_000),
        audience_max_segments=int(env.get("MA_AUDIENCE_MAX_SEGMENTS") or 1_000),
        audience_inline_items=int(env.get("MA_AUDIENCE_INLINE_ITEMS") or 5_000),
        audience_snapshot_grace_hours=int(env.get("MA_AUDIENCE_SNAPSHOT_GRACE_HOURS") or 48),
    )


class _Lazy:
    """``settings``: loads on first attribute access, so importing reads nothing."""

    _loaded: Settings | None = None
    _lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._current(), name)

    def _current(self) -> Settings:
        if _Lazy._loaded is None:
            with _Lazy._lock:
                if _Lazy._loaded is None:
                    _Lazy._loaded = load()
        return _Lazy._loaded


def reload() -> None:
    """Read the environment again at the next use (tests and launchers that change it)."""
    _Lazy._loaded = None


def region() -> str:
    """The region, straight from the environment (PynamoDB asks for it at class creation)."""
    return os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"


settings: Settings = cast(Settings, _Lazy())
