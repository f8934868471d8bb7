"""The Kafka provider: each message is a record produced to a topic (kafka-python).

Settings: ``bootstrap_servers`` (required, comma-separated ``host:port``), ``topic`` (used
when the message's content names none), ``security_protocol`` (PLAINTEXT, SSL,
SASL_PLAINTEXT, SASL_SSL), ``sasl_mechanism`` (PLAIN when SASL credentials are given;
SCRAM-SHA-256, SCRAM-SHA-512), ``timeout_seconds`` (10: how long to wait for the
cluster's metadata, a request and a delivery). Credentials (optional): ``sasl_username``,
``sasl_password``.

The record: topic = the content's ``topic`` or the ``topic`` setting; key = the user id
(a user's messages stay in order on one partition); value = JSON of the content and the
message's metadata; header ``idempotency-key``. The whole batch is sent, then flushed
once; each record's acknowledgement (``acks=all``, idempotent producer: the broker drops
the producer's own duplicates from its internal retries) becomes its result, with
``<topic>/<partition>/<offset>`` as the provider message id.

Kafka takes no idempotency key of ours, so after a crash the sender does not produce
again (the message fails as "outcome unknown"); a retryable error can still mean the
broker appended the record (a delivery timeout after the write), so consumers should
dedupe on the ``idempotency-key`` header.

One producer per cluster and credentials is kept per process, across invocations: it is
slow to make (a connection and the broker's versions) and cheap to keep.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from kafka import KafkaProducer
from kafka import errors as kafka_errors

from chalicelib.providers.base import Outgoing, Provider, Result, register

DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_TIMEOUT_SECONDS = 30.0
LINGER_MS = 5
TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")
IDEMPOTENCY_HEADER = "idempotency-key"

PERMANENT_ERRORS: tuple[tuple[type[Exception], str], ...] = (
    (kafka_errors.MessageSizeTooLargeError, "the message is larger than the Kafka cluster accepts"),
    (kafka_errors.RecordListTooLargeError, "the message is larger than the Kafka cluster accepts"),
    (kafka_errors.TopicAuthorizationFailedError, "not authorised to write to topic {topic}"),
    (kafka_errors.InvalidTopicError, "{topic} is not a topic Kafka accepts"),
    (kafka_errors.SaslAuthenticationFailedError, "the Kafka cluster refused the SASL credentials"),
    (kafka_errors.AuthorizationError, "not authorised to write to topic {topic}"),
)

_producers: dict[tuple[Any, ...], KafkaProducer] = {}
_producers_lock = threading.Lock()


def record_value(message: Outgoing) -> bytes:
    """The record's value: the content with the message's metadata, as JSON."""
    document = {
        "message_key": message.message_key, "idempotency_key": message.idempotency_key,
        "user_id": message.user_id, "channel": message.channel, "to": message.to, "content": message.content,
    }
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def error_result(error: Exception, topic: str, timeout: float) -> Result:
    """A Kafka error as a result, in words (retryable unless Kafka says it never will pass)."""
    if isinstance(error, kafka_errors.KafkaTimeoutError):
        return Result("retryable", reason=f"Kafka did not acknowledge within {timeout:g} s")
    for kind, words in PERMANENT_ERRORS:
        if isinstance(error, kind):
            return Result("permanent", reason=words.format(topic=topic))
    if isinstance(error, kafka_errors.KafkaError) and not error.retriable:
        name = getattr(error, "message", "") or "an error"
        return Result("permanent", reason=f"Kafka refused the message ({name})")
    name = getattr(error, "message", "") or "a retryable error"
    return Result("retryable", reason=f"Kafka answered {name}")


def producer_for(settings: dict[str, Any], credentials: dict[str, Any], timeout: float) -> KafkaProducer:
    """The process's producer for this cluster and these credentials (made on first use)."""
    username, password = credentials.get("sasl_username"), credentials.get("sasl_password")
    protocol = str(settings.get("security_protocol") or ("SASL_SSL" if username else "PLAINTEXT"))
    mechanism = str(settings.get("sasl_mechanism") or "PLAIN") if username else None
    secret_digest = hashlib.sha256(str(password).encode()).hexdigest() if password else None
    key = (settings["bootstrap_servers"], protocol, mechanism, username, secret_digest, timeout)
    with _producers_lock:
        producer = _producers.get(key)
        if producer is None:
            millis = int(timeout * 1000)
            options: dict[str, Any] = dict(
                bootstrap_servers=[s.strip() for s in str(settings["bootstrap_servers"]).split(",") if s.strip()],
                acks="all", enable_idempotence=True, linger_ms=LINGER_MS, client_id="marketing-automation",
                max_block_ms=millis, request_timeout_ms=millis, bootstrap_timeout_ms=millis,
                delivery_timeout_ms=2 * millis + LINGER_MS, security_protocol=protocol,
            )
            if username:
                options.update(sasl_mechanism=mechanism, sasl_plain_username=username, sasl_plain_password=password)
            producer = KafkaProducer(**options)  # raises KafkaTimeoutError when no broker answers
            _producers[key] = producer
        return producer


def close_producers() -> None:
    """Close every kept producer (tests; a process that ends)."""
    with _producers_lock:
        kept = list(_producers.values())
        _producers.clear()
    for producer in kept:
        producer.close(timeout=1)


@register
class KafkaProvider(Provider):
    kind = "kafka"
    channels = frozenset({"webhook"})
    max_batch = 100

    @property
    def timeout(self) -> float:
        configured = self.config.settings.get("timeout_seconds")
        return min(MAX_TIMEOUT_SECONDS, max(0.1, float(configured))) if configured else DEFAULT_TIMEOUT_SECONDS

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        credentials = self._credentials()
        if isinstance(credentials, Result):
            return [credentials] * len(batch)
        try:
            producer = producer_for(self.config.settings, credentials, self.timeout)
        except kafka_errors.KafkaError as error:
            return [error_result(error, "", self.timeout)] * len(batch)
        results: list[Result | None] = [None] * len(batch)
        pending: list[tuple[int, str, Any]] = []  # (index, topic, kafka-python's FutureRecordMetadata)
        unavailable: dict[str, Result] = {}  # a topic whose metadata did not come: the rest need not wait again
        for i, message in enumerate(batch):
            topic = self._topic(message)
            if topic is None:
                results[i] = Result("permanent", reason="no topic: set the provider's topic or the message's content.topic")
            elif not TOPIC.match(topic) or topic in (".", ".."):
                results[i] = Result("permanent", reason=f"{topic[:100]} is not a valid Kafka topic name")
            elif topic in unavailable:
                results[i] = unavailable[topic]
            else:
                try:
                    future = producer.send(topic, key=message.user_id.encode(), value=record_value(message),
                                           headers=[(IDEMPOTENCY_HEADER, message.idempotency_key.encode())])
                    pending.append((i, topic, future))
                except kafka_errors.KafkaError as error:
                    results[i] = error_result(error, topic, self.timeout)
                    if isinstance(error, kafka_errors.KafkaTimeoutError):
                        unavailable[topic] = error_result(error, topic, self.timeout)
        if pending:
            self._flush(producer)
        for i, topic, future in pending:
            results[i] = self._result(future, topic)
        return [r if r is not None else Result("retryable", reason="Kafka gave no answer") for r in results]

    def _topic(self, message: Outgoing) -> str | None:
        named = message.content.get("topic")
        topic = named if isinstance(named, str) and named else self.config.settings.get("topic")
        return str(topic) if topic else None

    def _flush(self, producer: KafkaProducer) -> None:
        try:
            # every record's delivery timeout ends before this: each future is then done
            producer.flush(timeout=2 * self.timeout + 1)
        except kafka_errors.KafkaTimeoutError:
            pass  # the futures not done are answered as retryable

    def _result(self, future: Any, topic: str) -> Result:
        if not future.is_done:
            return Result("retryable", reason=f"Kafka did not acknowledge within {self.timeout:g} s")
        if future.failed():
            error = future.exception
            return error_result(error if isinstance(error, Exception) else Exception(), topic, self.timeout)
        meta = future.value
        return Result("accepted", provider_message_id=f"{meta.topic}/{meta.partition}/{meta.offset}")

    def _credentials(self) -> dict[str, Any] | Result:
        """The SASL credentials (none stored: none needed), or the result every message gets."""
        try:
            return self.config.credentials()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return {}
            return Result("retryable", reason="could not read the Kafka provider's credentials")
        except BotoCoreError:
            return Result("retryable", reason="could not read the Kafka provider's credentials")
