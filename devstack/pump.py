"""Pump SQS queues into the app's ``on_sqs_message`` handlers, as Lambda's event source does.

Receives up to the handler's batch size, invokes the handler with a Lambda-shaped event,
deletes the messages it did not report in ``batchItemFailures``, and makes the failed
ones visible again after ``retry_seconds`` (Lambda leaves them for the whole visibility
timeout; locally that would be minutes). The queue's redrive policy moves a message to
its DLQ after ``maxReceiveCount`` receives, as in AWS.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from chalice import Chalice
from chalice.app import SQSEventConfig

from chalicelib import aws, logs
from chalicelib.config import settings
from devstack.lambda_shapes import FakeContext, sqs_event


@dataclass(frozen=True)
class Binding:
    handler: str
    queue: str
    url: str
    arn: str
    batch_size: int


def bindings(app: Chalice) -> list[Binding]:
    found = []
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            queue = source.queue or ""
            url = aws.queue_url(settings.queue(queue))
            arn = aws.sqs().get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            found.append(Binding(source.name, queue, url, arn, min(int(source.batch_size or 1), 10)))
    return found


def deliver_once(app: Chalice, binding: Binding, *, wait_seconds: int = 0, retry_seconds: int = 1) -> int:
    """One receive and one handler invocation; returns the number of messages received."""
    sqs = aws.sqs()
    answer = sqs.receive_message(
        QueueUrl=binding.url, MaxNumberOfMessages=binding.batch_size, WaitTimeSeconds=wait_seconds,
        AttributeNames=["All"], MessageAttributeNames=["All"],
    )
    messages = answer.get("Messages", [])
    if not messages:
        return 0
    event = sqs_event(messages, binding.arn, settings.region)
    try:
        result = app.handler_map[binding.handler](event, FakeContext(binding.handler))
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
    except Exception:  # noqa: BLE001 - a raising handler fails the whole batch, as in Lambda
        logs.logger.exception("handler raised; the whole batch will be retried", extra={"handler": binding.handler})
        failed = {m["MessageId"] for m in messages}
    done = [m for m in messages if m["MessageId"] not in failed]
    if done:
        sqs.delete_message_batch(
            QueueUrl=binding.url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
        )
    retry = [m for m in messages if m["MessageId"] in failed]
    if retry:
        sqs.change_message_visibility_batch(
            QueueUrl=binding.url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": retry_seconds}
                     for i, m in enumerate(retry)],
        )
    return len(messages)


def queue_depth(binding: Binding) -> int:
    attrs = aws.sqs().get_queue_attributes(
        QueueUrl=binding.url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


class Pump:
    """Worker threads that keep every queue drained (moto's SQS slows as a queue grows)."""

    def __init__(self, app: Chalice, workers_per_queue: int = 2, retry_seconds: int = 1):
        self.app = app
        self.bindings = bindings(app)
        self.workers_per_queue = workers_per_queue
        self.retry_seconds = retry_seconds
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        for binding in self.bindings:
            for n in range(self.workers_per_queue):
                thread = threading.Thread(target=self._run, args=(binding,), name=f"pump-{binding.queue}-{n}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _run(self, binding: Binding) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._busy += 1
            try:
                deliver_once(self.app, binding, wait_seconds=1, retry_seconds=self.retry_seconds)
            except Exception:  # noqa: BLE001 - keep pumping through a moto hiccup
                logs.logger.exception("pump receive failed")
                time.sleep(0.5)
            finally:
                with self._lock:
                    self._busy -= 1

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queue is empty (in-flight included); False on timeout."""
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            if all(queue_depth(b) == 0 for b in self.bindings):
                quiet += 1
                if quiet >= 2:
                    return True
            else:
                quiet = 0
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)


def drain_inline(app: Chalice, *, max_rounds: int = 100, retry_seconds: int = 0) -> int:
    """Deliver until every queue is empty, in this thread (tests). Returns messages received."""
    total = 0
    queues = bindings(app)
    for _ in range(max_rounds):
        received = sum(deliver_once(app, b, retry_seconds=retry_seconds) for b in queues)
        total += received
        if received == 0:
            break
    return total
