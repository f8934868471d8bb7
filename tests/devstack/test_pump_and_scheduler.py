"""The local stack's pump and scheduler drive the real handlers as Lambda would."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

from chalice import Chalice, Rate

from chalicelib import aws
from chalicelib.config import settings
from devstack import pump, resources
from devstack.scheduler import Scheduler


def make_app(behaviour):
    """A tiny app on the real events queue whose handler does what the test says."""
    app = Chalice(app_name="pump-test")
    seen: list[str] = []

    @app.on_sqs_message(queue="events", batch_size=10)
    def handle(event):
        failures = []
        for rec in event:
            body = json.loads(rec.body)
            seen.append(body["n"])
            if behaviour(body["n"]):
                failures.append({"itemIdentifier": rec.to_dict()["messageId"]})
        return {"batchItemFailures": failures}

    return app, seen


def send(*numbers: int) -> None:
    url = aws.queue_url(settings.queue("events"))
    for n in numbers:
        aws.sqs().send_message(QueueUrl=url, MessageBody=json.dumps({"n": n}))


def dlq_bodies() -> list[dict]:
    url = aws.queue_url(resources.queue_names(settings.resource_prefix)["events-dlq"])
    bodies = []
    while messages := aws.sqs().receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        aws.sqs().delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return bodies


def test_the_pump_deletes_successes_and_retries_only_reported_failures(aws_backend):
    app, seen = make_app(lambda n: n == 2 and seen.count(2) < 2)
    send(1, 2, 3)

    pump.drain_inline(app)

    assert sorted(seen) == [1, 2, 2, 3]
    assert dlq_bodies() == []


def test_a_message_that_always_fails_lands_in_the_dead_letter_queue(aws_backend):
    app, seen = make_app(lambda n: n == 7)
    send(7, 8)

    pump.drain_inline(app)

    assert seen.count(7) == 5  # maxReceiveCount in infra/resources.yaml
    assert seen.count(8) == 1
    assert dlq_bodies() == [{"n": 7}]


def test_a_raising_handler_fails_the_whole_batch(aws_backend):
    app = Chalice(app_name="raise-test")
    calls = []

    @app.on_sqs_message(queue="events", batch_size=10)
    def handle(event):
        calls.append(len(list(event)))
        raise RuntimeError("boom")

    send(1)
    pump.drain_inline(app)

    assert sum(calls) == 5
    assert dlq_bodies() == [{"n": 1}]


def test_the_scheduler_fires_rate_and_cron_schedules_on_the_injected_clock():
    app = Chalice(app_name="schedule-test")
    fired: list[tuple[str, str]] = []

    @app.schedule(Rate(5, unit=Rate.MINUTES))
    def every_five(event):
        fired.append(("every_five", event.time))

    @app.schedule("cron(0 12 * * ? *)")
    def noon(event):
        fired.append(("noon", event.time))

    now = [datetime(2026, 11, 23, 11, 58, tzinfo=timezone.utc)]
    scheduler = Scheduler(app, lambda: now[0])

    assert scheduler.run_due() == []
    now[0] += timedelta(minutes=2)
    assert scheduler.run_due() == ["noon"]
    now[0] += timedelta(minutes=3)
    assert scheduler.run_due() == ["every_five"]
    assert scheduler.run_due() == []
    now[0] += timedelta(days=1)
    assert sorted(scheduler.run_due()) == ["every_five", "noon"]
    assert fired[0] == ("noon", "2026-11-23T12:00:00Z")


def test_every_template_table_and_queue_exists_locally(aws_backend):
    template = resources.load_template()
    declared = {r["Metadata"]["LocalName"] for r in template["Resources"].values()
                if r["Type"] in ("AWS::DynamoDB::Table", "AWS::SQS::Queue")}
    tables = set(aws.dynamodb().list_tables()["TableNames"])
    queues = {url.rsplit("/", 1)[-1] for url in aws.sqs().list_queues()["QueueUrls"]}
    local = {n[len(settings.resource_prefix):] for n in tables | queues if n.startswith(settings.resource_prefix)}
    assert declared <= local
    assert {settings.table(t) for t in settings.tables} <= tables
    events = aws.dynamodb().describe_table(TableName=settings.table("events"))["Table"]
    assert not events.get("LocalSecondaryIndexes")  # the sort key orders events by time (docs/data-model.md)
    attrs = aws.sqs().get_queue_attributes(QueueUrl=aws.queue_url(settings.queue("events")),
                                           AttributeNames=["RedrivePolicy"])["Attributes"]
    assert json.loads(attrs["RedrivePolicy"])["maxReceiveCount"] == 5


def test_state_survives_a_dump_and_restore(aws_backend, tmp_path):
    from devstack import state

    client = aws.dynamodb()
    client.create_table(TableName="state-test", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    for n in range(30):
        client.put_item(TableName="state-test", Item={"pk": {"S": f"k{n}"}, "n": {"N": str(n)}, "m": {"M": {"x": {"BOOL": True}}}})

    assert state.dump_tables(client, ["state-test"], tmp_path) == {"state-test": 30}
    client.delete_table(TableName="state-test")
    client.create_table(TableName="state-test", BillingMode="PAY_PER_REQUEST",
                        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
                        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    assert state.restore_tables(client, ["state-test"], tmp_path) == {"state-test": 30}

    item = client.get_item(TableName="state-test", Key={"pk": {"S": "k7"}})["Item"]
    assert item == {"pk": {"S": "k7"}, "n": {"N": "7"}, "m": {"M": {"x": {"BOOL": True}}}}
    client.delete_table(TableName="state-test")


def test_moto_transactions_still_roll_back_with_the_speedup(aws_backend):
    client = aws.dynamodb()
    table = settings.table("workspaces")
    client.put_item(TableName=table, Item={"pk": {"S": "tx"}, "sk": {"S": "a"}, "v": {"N": "1"}})
    try:
        client.transact_write_items(TransactItems=[
            {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"S": "a"}, "v": {"N": "2"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"S": "b"}, "v": {"N": "2"}}}},
            {"Put": {"TableName": table, "Item": {"pk": {"S": "tx"}, "sk": {"S": "c"}},
                     "ConditionExpression": "attribute_exists(pk)"}},
        ])
    except client.exceptions.TransactionCanceledException:
        pass
    else:
        raise AssertionError("the transaction should have been cancelled")

    assert client.get_item(TableName=table, Key={"pk": {"S": "tx"}, "sk": {"S": "a"}})["Item"]["v"] == {"N": "1"}
    assert "Item" not in client.get_item(TableName=table, Key={"pk": {"S": "tx"}, "sk": {"S": "b"}})
