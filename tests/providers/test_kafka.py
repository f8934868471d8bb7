"""The Kafka adapter against a local tansu broker (the ``kafka_broker`` fixture):
records produced are consumed back, and each failure becomes the right result."""
from __future__ import annotations

import json
import uuid

import pytest
from kafka import KafkaConsumer
from kafka import errors as kafka_errors

from chalicelib.providers import kafka as kafka_adapter
from chalicelib.providers.base import Outgoing, ProviderConfig, build
from devstack.kafka import free_port


@pytest.fixture(autouse=True, scope="module")
def _close_producers():
    yield
    kafka_adapter.close_producers()


def provider(bootstrap: str, **settings) -> kafka_adapter.KafkaProvider:
    config = ProviderConfig("ws_" + uuid.uuid4().hex[:12], "stream", "kafka", "webhook",
                            {"bootstrap_servers": bootstrap, **settings})
    made = build(config)
    assert isinstance(made, kafka_adapter.KafkaProvider)
    return made


def outgoing(user_id: str = "u1", **content) -> Outgoing:
    return Outgoing(workspace_id="ws_x", message_key=f"ws_x#task#tsk_1#03|user#{user_id}",
                    idempotency_key=f"idem-{user_id}", user_id=user_id, channel="webhook",
                    to=None, content=content or {"event": "cart_reminder"})


def consume(bootstrap: str, topic: str, count: int) -> list:
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             group_id=None, consumer_timeout_ms=10_000)
    try:
        records = []
        for record in consumer:
            records.append(record)
            if len(records) == count:
                break
        return records
    finally:
        consumer.close()


def new_topic() -> str:
    return "ma-test-" + uuid.uuid4().hex[:10]


def test_a_batch_is_produced_and_each_record_is_known_by_topic_partition_and_offset(aws_backend, kafka_broker):
    topic = new_topic()
    batch = [outgoing(f"u{i}", event="cart_reminder", n=i) for i in range(3)]

    results = provider(kafka_broker.bootstrap, topic=topic).send(batch)

    assert [r.outcome for r in results] == ["accepted"] * 3
    records = consume(kafka_broker.bootstrap, topic, 3)
    by_user = {r.key.decode(): r for r in records}
    assert sorted(by_user) == ["u0", "u1", "u2"]
    for message, result in zip(batch, results):
        record = by_user[message.user_id]
        assert result.provider_message_id == f"{topic}/{record.partition}/{record.offset}"
        assert json.loads(record.value) == {
            "message_key": message.message_key, "idempotency_key": message.idempotency_key,
            "user_id": message.user_id, "channel": "webhook", "to": None, "content": message.content}
        assert dict(record.headers) == {"idempotency-key": message.idempotency_key.encode()}


def test_the_message_content_may_name_its_topic(aws_backend, kafka_broker):
    default, own = new_topic(), new_topic()

    [result] = provider(kafka_broker.bootstrap, topic=default).send([outgoing(topic=own, event="x")])

    assert result.outcome == "accepted" and result.provider_message_id.startswith(f"{own}/")
    [record] = consume(kafka_broker.bootstrap, own, 1)
    assert json.loads(record.value)["content"] == {"topic": own, "event": "x"}


def test_one_producer_is_kept_for_a_cluster_across_batches(aws_backend, kafka_broker):
    topic = new_topic()
    first = provider(kafka_broker.bootstrap, topic=topic)
    first.send([outgoing("u1")])
    kept = dict(kafka_adapter._producers)

    provider(kafka_broker.bootstrap, topic=topic).send([outgoing("u2")])

    assert kafka_adapter._producers == kept and len(kept) >= 1


def test_a_message_without_a_topic_or_with_an_invalid_one_fails_and_the_rest_is_produced(aws_backend, kafka_broker):
    topic = new_topic()
    no_topic = provider(kafka_broker.bootstrap)
    [missing] = no_topic.send([outgoing()])
    results = provider(kafka_broker.bootstrap, topic=topic).send(
        [outgoing("u1", topic="not a topic!"), outgoing("u2"), outgoing("u3", topic="..")])

    assert (missing.outcome, missing.reason) == (
        "permanent", "no topic: set the provider's topic or the message's content.topic")
    assert [r.outcome for r in results] == ["permanent", "accepted", "permanent"]
    assert results[0].reason == "not a topic! is not a valid Kafka topic name"
    assert [r.key for r in consume(kafka_broker.bootstrap, topic, 1)] == [b"u2"]


def test_a_message_larger_than_kafka_takes_fails_for_good(aws_backend, kafka_broker):
    topic = new_topic()

    big, small = provider(kafka_broker.bootstrap, topic=topic).send(
        [outgoing("u1", blob="x" * 1_100_000), outgoing("u2")])

    assert (big.outcome, big.reason) == ("permanent", "the message is larger than the Kafka cluster accepts")
    assert small.outcome == "accepted"


def test_an_unreachable_cluster_is_retryable_after_the_configured_timeout(aws_backend):
    results = provider(f"127.0.0.1:{free_port()}", topic="orders", timeout_seconds=0.5).send(
        [outgoing("u1"), outgoing("u2")])

    assert {(r.outcome, r.reason) for r in results} == {("retryable", "Kafka did not acknowledge within 0.5 s")}


@pytest.mark.parametrize("error, outcome, reason", [
    (kafka_errors.KafkaTimeoutError(), "retryable", "Kafka did not acknowledge within 10 s"),
    (kafka_errors.NotLeaderForPartitionError(), "retryable", "Kafka answered NOT_LEADER_FOR_PARTITION"),
    (kafka_errors.KafkaConnectionError(), "retryable", "Kafka answered a retryable error"),
    (kafka_errors.MessageSizeTooLargeError(), "permanent", "the message is larger than the Kafka cluster accepts"),
    (kafka_errors.TopicAuthorizationFailedError(), "permanent", "not authorised to write to topic orders"),
    (kafka_errors.InvalidTopicError(), "permanent", "orders is not a topic Kafka accepts"),
    (kafka_errors.SaslAuthenticationFailedError(), "permanent", "the Kafka cluster refused the SASL credentials"),
])
def test_kafka_errors_map_to_results_in_words(error, outcome, reason):
    result = kafka_adapter.error_result(error, "orders", 10.0)

    assert (result.outcome, result.reason) == (outcome, reason)
