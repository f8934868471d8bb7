"""A provider's rate limit holds across concurrent sender invocations: permits come from
one counter per provider and window (moto), so no window sends more than the limit, and
every message refused a permit is sent once, later."""
from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.sending import repo_messages
from chalicelib import clock
from chalicelib.models.messages import MessageItem
from chalicelib.providers.base import Outgoing, Provider, Result, register
from chalicelib.sending import rate_limit, repo_rate
from chalicelib.sending.messages import MessageKey
from chalicelib.sending.rate_limit import Window

START = datetime(2026, 11, 26, 9, 0, tzinfo=timezone.utc)


class Moment:
    """The clock every thread reads; the test moves it."""

    value = START


class Paced:
    """Each call the paced provider got: the second (of the injected clock) and the users."""

    calls: list[tuple[int, list[str]]] = []
    lock = threading.Lock()


@register
class PacedProvider(Provider):
    kind = "paced_spy"
    channels = frozenset({"sms"})
    max_batch = 3

    def send(self, batch: Sequence[Outgoing]) -> list[Result]:
        with Paced.lock:
            Paced.calls.append((int(clock.now().timestamp()), [o.user_id for o in batch]))
        return [Result("accepted", provider_message_id=f"p-{uuid.uuid4().hex[:8]}") for _ in batch]


@pytest.fixture(autouse=True)
def injected_clock(monkeypatch):
    Moment.value = START
    Paced.calls = []
    monkeypatch.setattr(clock, "now", lambda: Moment.value)


@pytest.fixture
def ws() -> str:
    return "ws_" + uuid.uuid4().hex[:12]


def send_body(workspace_id: str, users: Sequence[str], **settings) -> dict:
    return {"type": "send", "workspace_id": workspace_id, "channel": "sms", "task_id": "tsk_rate",
            "provider": {"name": "paced", "kind": "paced_spy", "settings": settings},
            "recipients": [{"user_id": u, "to": f"+86138000{i:05d}", "content": {"text": "hi"}}
                           for i, u in enumerate(users)]}


def record(body: dict, message_id: str) -> dict:
    return {"messageId": message_id, "receiptHandle": "rh", "body": json.dumps(body),
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ma-local-sends",
            "awsRegion": "us-east-1"}


def invoke(app, *records: dict) -> dict:
    from devstack.lambda_shapes import FakeContext

    return app.handler_map["on_sends"]({"Records": list(records)}, FakeContext("on_sends"))


def status(workspace_id: str, user_id: str) -> str:
    key = MessageKey(workspace_id, user_id, task_id="tsk_rate")
    item = repo_messages.read_item(key)
    if item is None:
        raise MessageItem.DoesNotExist()
    return item.status


def requeued(expected: bool) -> dict[str, dict]:
    """The records the sender put back on the sends queue (they wait out SQS's real delay)."""
    from chalicelib import aws
    from chalicelib.config import settings

    url = aws.queue_url(settings.queue("sends"))
    found: dict[str, dict] = {}
    for _ in range(4 if expected else 1):
        answer = aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2 if expected else 0)
        for m in answer.get("Messages", []):
            found[m["MessageId"]] = record(json.loads(m["Body"]), m["MessageId"])
            aws.sqs().delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        if found:
            break
    return found


def test_concurrent_senders_never_exceed_the_limit_in_a_window_and_send_every_message_once(app, ws):
    users = [f"u{i:02d}" for i in range(24)]
    pending = {f"m-{n}": record(send_body(ws, users[n * 6:(n + 1) * 6], rate_limit=5), f"m-{n}") for n in range(4)}
    windows = 0
    while pending and windows < 30:
        answers: dict[str, dict] = {}
        threads = [threading.Thread(target=lambda r=r: answers.__setitem__(r["messageId"], invoke(app, r)))
                   for r in pending.values()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(answer == {"batchItemFailures": []} for answer in answers.values())  # never retried by receives
        windows += 1
        Moment.value += timedelta(seconds=1)  # the next window
        pending = requeued(expected=sum(len(b) for _, b in Paced.calls) < 24)

    per_second = Counter()
    for second, batch in Paced.calls:
        per_second[second] += len(batch)
    sent = Counter(u for _, batch in Paced.calls for u in batch)
    assert not pending
    assert max(per_second.values()) == 5 and all(n <= 5 for n in per_second.values())
    assert len(per_second) >= 5  # 24 messages at 5 a second: at least five windows
    assert sent == {u: 1 for u in users}
    assert {status(ws, u) for u in users} == {"sent"}


def test_a_batch_larger_than_the_permits_left_sends_what_fits_and_requeues_the_rest_unclaimed(app, ws):
    assert repo_rate.take(ws, "paced", rate_limit.window_for(5, START), 3) == 3  # another sender took 3

    answer = invoke(app, record(send_body(ws, ["a", "b", "c"], rate_limit=5), "m-1"))

    assert answer == {"batchItemFailures": []}  # the rest goes back as a new record, not a retry
    assert [batch for _, batch in Paced.calls] == [["a", "b"]]
    again = list(requeued(expected=True).values())
    assert len(again) == 1 and [r["user_id"] for r in json.loads(again[0]["body"])["recipients"]] == ["c"]
    assert json.loads(again[0]["body"])["not_before"] is not None
    with pytest.raises(MessageItem.DoesNotExist):
        status(ws, "c")  # never claimed: nothing to release


def test_a_provider_without_a_rate_limit_takes_no_permits(app, ws, monkeypatch):
    asked: list = []
    monkeypatch.setattr(repo_rate, "take", lambda *args: asked.append(args) or 0)

    assert invoke(app, record(send_body(ws, ["a", "b"]), "m-1")) == {"batchItemFailures": []}

    assert asked == [] and [batch for _, batch in Paced.calls] == [["a", "b"]]


def test_one_write_takes_the_permits_of_a_provider_batch(app, ws):
    invoke(app, record(send_body(ws, ["a", "b", "c", "d"], rate_limit=10), "m-1"))

    assert repo_rate.used(ws, "paced", rate_limit.window_for(10, START)) == 4
    assert [len(batch) for _, batch in Paced.calls] == [3, 1]


def test_permits_asked_for_beyond_the_limit_are_refused_by_the_counter(aws_backend, ws):
    window = rate_limit.window_for(5, START)

    taken = [repo_rate.take(ws, "p", window, n) for n in (2, 2, 2, 2)]

    assert taken == [2, 2, 1, 0]
    assert repo_rate.take(ws, "p", rate_limit.window_for(5, START + timedelta(seconds=1)), 2) == 2


# --- the pure decision ------------------------------------------------------------------------

@pytest.mark.parametrize("rate, seconds, permits", [
    (5, 1, 5), (2.5, 1, 2), (1, 1, 1), (0.5, 2, 1), (0.3, 4, 1), (0.25, 4, 1), (1000, 1, 1000),
])
def test_a_window_allows_at_most_the_rate(rate, seconds, permits):
    window = rate_limit.window_for(rate, START + timedelta(seconds=7, milliseconds=300))

    assert (window.seconds, window.permits) == (seconds, permits)
    assert window.permits / window.seconds <= rate
    assert window.start <= (START + timedelta(seconds=7)).timestamp() < window.end


@pytest.mark.parametrize("asked, counted, permits, expected", [
    (3, 3, 5, 3), (3, 6, 5, 2), (3, 8, 5, 0), (1, 5, 5, 1), (4, 9, 5, 0),
])
def test_the_counter_after_adding_says_how_many_fit(asked, counted, permits, expected):
    assert rate_limit.granted(asked, counted, permits) == expected


def test_a_refused_message_waits_until_its_window_ends():
    window = Window(start=int(START.timestamp()), seconds=2, permits=1)

    assert rate_limit.retry_delay(window, START + timedelta(milliseconds=200)) == 2
    assert rate_limit.retry_delay(window, START + timedelta(seconds=1, milliseconds=999)) == 1
