"""What moto answers to a fixed series of DynamoDB and SQS calls, byte for byte.

``python -m tests.devstack.moto_transcript stock|patched`` prints a JSON list of
``[call, status, body]``: ``stock`` is moto as installed (with only
``moto_patches._return_empty_names``, which the reference behaviour for empty names is),
``patched`` is moto with ``moto_patches.install()``. Run in a process of its own so that
neither touches the test session's moto. The calls cover what the speed-ups replace:
items of every attribute type (nested maps and lists, sets, binary, numbers, NULL,
BOOL, empty strings, empty attribute names and map keys) in every read and write
answer, queries on a table and an index page by page, update expressions (valid, malformed, too many clauses, overlapping paths,
functions, nested paths, list indexes), and SQS queue attributes.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Any

TABLE = "transcript"


def item(n: int) -> dict[str, Any]:
    return {
        "pk": {"S": "p"}, "sk": {"S": f"s{n:03d}"}, "g": {"S": f"g{n % 3}"}, "num": {"N": str(n * 1.5)},
        "int": {"N": "-12345678901234567890"}, "empty": {"S": ""}, "yes": {"BOOL": n % 2 == 0}, "nil": {"NULL": True},
        "bin": {"B": bytes([n, 0, 255, 10])}, "ss": {"SS": ["a", "b", f"c{n}"]}, "ns": {"NS": ["1", "2.5", "-3"]},
        "bs": {"BS": [b"\x00\x01", b"xyz"]},
        "map": {"M": {"a": {"S": "x"}, "nested": {"M": {"deep": {"L": [{"N": "1"}, {"S": "two"}, {"M": {}},
                                                                    {"L": []}, {"NULL": True}]}}},
                      "list": {"L": [{"SS": ["q"]}, {"B": b"\x01"}, {"BOOL": False}]}, "empty_map": {"M": {}}}},
        "list": {"L": [{"S": "first"}, {"N": "2"}, {"M": {"k": {"S": "v"}}}]},
        "unicode": {"S": "中文 ☃ \"quoted\" \\ back"},
    }


def odd_item() -> dict[str, Any]:
    """An item DynamoDB would refuse (empty attribute name, empty map key) that moto stores."""
    return {"pk": {"S": "odd"}, "sk": {"S": "odd"}, "": {"S": "empty name"},
            "map": {"M": {"": {"N": "1"}, "b": {"M": {"": {"S": "deep"}, "c": {"S": "d"}}}}}}


UPDATES: list[dict[str, Any]] = [
    {"UpdateExpression": "SET #1 = :2, #2 = :3, #3 = :4, #4 = :5 REMOVE #0, #5 ADD #6 :one",
     "ConditionExpression": "(#7 = :k)",
     "ExpressionAttributeNames": {"#0": "gone", "#1": "a", "#2": "b", "#3": "c", "#4": "d", "#5": "nil",
                                  "#6": "calls", "#7": "pk"},
     "ExpressionAttributeValues": {":2": {"S": "A"}, ":3": {"N": "2"}, ":4": {"M": {"x": {"L": [{"S": "y"}]}}},
                                   ":5": {"BOOL": True}, ":one": {"N": "1"}, ":k": {"S": "p"}}},
    {"UpdateExpression": "SET #a = if_not_exists(#a, :now), #r = if_not_exists(#r, :r), "
                         "#l = list_append(#l, :more), #n = #n + :inc, #m.nested.added = :v ADD #c :one",
     "ExpressionAttributeNames": {"#a": "accepted", "#r": "receipts", "#l": "list", "#n": "num", "#m": "map",
                                  "#c": "calls"},
     "ExpressionAttributeValues": {":now": {"S": "2026"}, ":r": {"L": []}, ":more": {"L": [{"S": "appended"}]},
                                   ":inc": {"N": "0.25"}, ":v": {"SS": ["s"]}, ":one": {"N": "1"}}},
    {"UpdateExpression": "REMOVE #l[0], #l[2] SET #s = :ss DELETE #b :bs",
     "ExpressionAttributeNames": {"#l": "list", "#s": "ss", "#b": "bs"},
     "ExpressionAttributeValues": {":ss": {"SS": ["z"]}, ":bs": {"BS": [b"xyz"]}}},
    {"UpdateExpression": "SET a = :a SET b = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
    {"UpdateExpression": "ADD a :n ADD b :n", "ExpressionAttributeValues": {":n": {"N": "1"}}},
    {"UpdateExpression": "REMOVE a REMOVE b"},
    {"UpdateExpression": "SET a = :a, a = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
    {"UpdateExpression": "SET a.b = :a, a = :a", "ExpressionAttributeValues": {":a": {"M": {}}}},
    {"UpdateExpression": "SET sk = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
    {"UpdateExpression": "SET a = :missing", "ExpressionAttributeValues": {":a": {"S": "x"}}},
    {"UpdateExpression": "SET #unknown = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
    {"UpdateExpression": "SET a = = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
    {"UpdateExpression": "ADD #n :s", "ExpressionAttributeNames": {"#n": "num"},
     "ExpressionAttributeValues": {":s": {"S": "x"}}},
    {"UpdateExpression": "SET #n = #n + :s", "ExpressionAttributeNames": {"#n": "num"},
     "ExpressionAttributeValues": {":s": {"S": "x"}}},
    {"UpdateExpression": "SET newmap.x = :a", "ExpressionAttributeValues": {":a": {"S": "x"}}},
    {"UpdateExpression": "SET g = :e", "ExpressionAttributeValues": {":e": {"S": ""}}},
    {"UpdateExpression": "SET a = :a", "ConditionExpression": "attribute_not_exists(pk)",
     "ReturnValuesOnConditionCheckFailure": "ALL_OLD", "ExpressionAttributeValues": {":a": {"S": "x"}}},
]


def transcript() -> list[Any]:
    import boto3
    from moto import mock_aws

    out: list[Any] = []

    def record(client: Any, name: str, call: Any) -> None:
        bodies: list[Any] = []

        def keep(http_response: Any, **_: Any) -> None:
            bodies.append((http_response.status_code, http_response.content.decode("utf-8", "replace")))

        client.meta.events.register("after-call", keep)
        client.meta.events.register("after-call-error", lambda **_: None)
        try:
            call()
        except Exception as error:  # noqa: BLE001 - the error's body is what is compared
            if not bodies:
                bodies.append((None, type(error).__name__))
        client.meta.events.unregister("after-call", keep)
        out.append([name, *bodies[-1]])

    with mock_aws():
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(
            TableName=TABLE, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk", "g")],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[{"IndexName": "by_g", "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"},
                                                                        {"AttributeName": "sk", "KeyType": "RANGE"}],
                                     "Projection": {"ProjectionType": "ALL"}}])
        for n in range(12):
            record(db, f"put {n}", lambda n=n: db.put_item(TableName=TABLE, Item=item(n), ReturnValues="ALL_OLD"))
        record(db, "put again", lambda: db.put_item(TableName=TABLE, Item=item(1), ReturnValues="ALL_OLD"))
        record(db, "put odd", lambda: db.put_item(TableName=TABLE, Item=odd_item()))
        key = {"pk": {"S": "p"}, "sk": {"S": "s001"}}
        record(db, "get", lambda: db.get_item(TableName=TABLE, Key=key))
        record(db, "get odd", lambda: db.get_item(TableName=TABLE, Key={"pk": {"S": "odd"}, "sk": {"S": "odd"}}))
        record(db, "get projected", lambda: db.get_item(TableName=TABLE, Key=key,
                                                        ProjectionExpression="#m.nested, #l[1], ss",
                                                        ExpressionAttributeNames={"#l": "list", "#m": "map"}))
        record(db, "query", lambda: db.query(TableName=TABLE, KeyConditionExpression="pk = :p",
                                             ExpressionAttributeValues={":p": {"S": "p"}}, Limit=5,
                                             ReturnConsumedCapacity="TOTAL"))
        record(db, "query back", lambda: db.query(TableName=TABLE, KeyConditionExpression="pk = :p AND sk > :s",
                                                  ExpressionAttributeValues={":p": {"S": "p"}, ":s": {"S": "s004"}},
                                                  ScanIndexForward=False, Limit=3))
        record(db, "query index", lambda: db.query(TableName=TABLE, IndexName="by_g", KeyConditionExpression="g = :g",
                                                   ExpressionAttributeValues={":g": {"S": "g1"}}, Limit=2))
        record(db, "query count", lambda: db.query(TableName=TABLE, KeyConditionExpression="pk = :p", Select="COUNT",
                                                   ExpressionAttributeValues={":p": {"S": "p"}}))
        for n in range(9):  # a second partition, and index keys shared across partitions
            db.put_item(TableName=TABLE, Item={"pk": {"S": "q"}, "sk": {"S": f"s{(n * 7) % 9:03d}"},
                                               "g": {"S": f"g{n % 2}"}, "v": {"N": str(n)}})
        db.put_item(TableName=TABLE, Item={"pk": {"S": "r"}, "sk": {"S": "no index key"}})
        pages: list[tuple[str, dict[str, Any]]] = [
            ("query pages", {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "q"}}}),
            ("query pages back", {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)", "ScanIndexForward": False,
                                  "ExpressionAttributeValues": {":p": {"S": "q"}, ":s": {"S": "s00"}}}),
            ("query pages filtered", {"KeyConditionExpression": "pk = :p", "FilterExpression": "v > :v",
                                      "ExpressionAttributeValues": {":p": {"S": "q"}, ":v": {"N": "3"}}}),
            ("query none", {"KeyConditionExpression": "pk = :p", "ExpressionAttributeValues": {":p": {"S": "zz"}}}),
            ("index pages", {"IndexName": "by_g", "KeyConditionExpression": "g = :g",
                             "ExpressionAttributeValues": {":g": {"S": "g1"}}}),
            ("index pages back", {"IndexName": "by_g", "KeyConditionExpression": "g = :g AND sk BETWEEN :a AND :b",
                                  "ScanIndexForward": False, "ExpressionAttributeValues": {
                                      ":g": {"S": "g0"}, ":a": {"S": "s001"}, ":b": {"S": "s007"}}}),
            ("index none", {"IndexName": "by_g", "KeyConditionExpression": "g = :g",
                            "ExpressionAttributeValues": {":g": {"S": "g9"}}}),
        ]
        for name, query in pages:
            start: dict[str, Any] = {}
            for page in range(12):
                answer: dict[str, Any] = {}
                record(db, f"{name} {page}", lambda query=query, start=start, answer=answer: answer.update(
                    db.query(TableName=TABLE, Limit=2, **query, **start)))
                if "LastEvaluatedKey" not in answer:
                    break
                start = {"ExclusiveStartKey": answer["LastEvaluatedKey"]}
        record(db, "scan", lambda: db.scan(TableName=TABLE, FilterExpression="yes = :t",
                                           ExpressionAttributeValues={":t": {"BOOL": True}}))
        record(db, "batch get", lambda: db.batch_get_item(RequestItems={TABLE: {"Keys": [
            key, {"pk": {"S": "p"}, "sk": {"S": "s002"}}, {"pk": {"S": "odd"}, "sk": {"S": "odd"}}]}}))
        record(db, "transact get", lambda: db.transact_get_items(TransactItems=[
            {"Get": {"TableName": TABLE, "Key": key}}, {"Get": {"TableName": TABLE, "Key": {"pk": {"S": "p"},
                                                                                           "sk": {"S": "s003"}}}}]))
        for n, update in enumerate(UPDATES):
            record(db, f"update {n}", lambda update=update: db.update_item(
                TableName=TABLE, Key=key, ReturnValues="ALL_NEW", **update))
            record(db, f"update {n} new item", lambda n=n, update=update: db.update_item(
                TableName=TABLE, Key={"pk": {"S": "new"}, "sk": {"S": f"n{n}"}}, ReturnValues="UPDATED_OLD", **update))
        record(db, "transact update", lambda: db.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key, **{k: v for k, v in UPDATES[0].items()}}},
            {"Put": {"TableName": TABLE, "Item": item(40)}}]))
        record(db, "transact too many", lambda: db.transact_write_items(TransactItems=[
            {"Update": {"TableName": TABLE, "Key": key, **UPDATES[4]}}]))
        record(db, "delete", lambda: db.delete_item(TableName=TABLE, Key=key, ReturnValues="ALL_OLD"))

        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
        dlq = sqs.create_queue(QueueName="q-dlq")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": arn, "maxReceiveCount": 3})})
        for n in range(5):
            sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", DelaySeconds=60 if n == 4 else 0)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)
        for names in (["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                       "ApproximateNumberOfMessagesDelayed"], ["QueueArn", "RedrivePolicy", "QueueArn"],
                      ["KmsMasterKeyId", "DelaySeconds"], ["All"], ["Nonsense"], ["FifoQueue"]):
            record(sqs, f"queue attributes {names}", lambda names=names: sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=names))
    for entry in out:  # the queues' creation times differ between two runs
        entry[2] = re.sub(r'"(Created|LastModified)Timestamp": "[0-9.]+"', r'"\1Timestamp": "-"', entry[2])
    return out


def main() -> None:
    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    from devstack import moto_patches

    if sys.argv[1] == "patched":
        moto_patches.install()
    else:
        moto_patches._return_empty_names()
    print(json.dumps(transcript()))


if __name__ == "__main__":
    main()
