"""Dead letters: list them with their reason, and send them back to their queue.

    python -m ops.dlq                    list every queue's dead letters (local stack)
    python -m ops.dlq redrive [QUEUE]    move them back to their source queue
    python -m ops.dlq --stack NAME ...   the same against a deployed stage

The queues come from infra/resources.yaml: every AWS::SQS::Queue with a RedrivePolicy
and the dead-letter queue it names, so a queue added to the template is covered here.
Where they live:

* the local stack (default): ``make run`` records its moto endpoint in
  ``<state dir>/running.json``; queue names are ``<resource prefix><LocalName>``;
* ``--endpoint URL``: any moto (or other local SQS) endpoint, same names;
* ``--stack NAME``: a deployed CloudFormation stack; queue URLs by logical id;
* ``--queue NAME=URL --dlq NAME=URL``: explicit URLs (NAME is the template's LocalName).

A dead letter's reason is its ``reason`` message attribute when the events handler put it
there (it dead-letters one bad event itself, with ``reason`` and ``source_queue``).
Messages SQS moved after maxReceiveCount failed receives carry none: the handler's logs
have the error, under the message id.

Listing receives each message with a short visibility timeout and releases it at once, so
nothing is lost or hidden (SQS has no peek); it does add one to each receive count.

Redrive, in the cloud: SQS StartMessageMoveTask from the DLQ to the source queue
(``--wait`` follows it with ListMessageMoveTasks). moto implements neither (moto 5.2: a
500 from its server, NotImplementedError in-process), so against a loopback endpoint the
same outcome is produced here: receive, SendMessageBatch to the source queue (same body
and attributes, minus the dead-letter annotations ``reason`` and ``source_queue``), then
delete only the messages whose copy was accepted, 10 at a time. Local vs cloud is decided
by the endpoint being loopback, not by trying the call and reading moto's error.
"""
from __future__ import annotations

import argparse
import ipaddress
import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlparse

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

ANNOTATIONS = ("reason", "source_queue")  # attributes the handler adds when it dead-letters
LIST_VISIBILITY_SECONDS = 20  # how long a listed message is hidden if releasing it fails
MOVE_VISIBILITY_SECONDS = 120
MOVE_DONE = ("COMPLETED", "CANCELLED", "FAILED")
MOVE_POLL_SECONDS = 5.0


class OperatorError(Exception):
    """Something the operator can fix; printed without a traceback."""


@dataclass(frozen=True)
class QueuePair:
    """A source queue and its dead-letter queue, as the template declares them."""

    name: str  # the source queue's LocalName, e.g. "events"
    logical_id: str
    dlq_name: str
    dlq_logical_id: str
    max_receive_count: int | None
    url: str | None = None
    dlq_url: str | None = None


def template_pairs(template: dict[str, Any] | None = None) -> list[QueuePair]:
    """Every queue of infra/resources.yaml with a RedrivePolicy, with its DLQ."""
    from devstack import resources

    template = template or resources.load_template()
    found = template["Resources"]
    pairs = []
    for rid, res in found.items():
        if res["Type"] != "AWS::SQS::Queue" or "RedrivePolicy" not in res.get("Properties", {}):
            continue
        policy = res["Properties"]["RedrivePolicy"]
        target = policy["deadLetterTargetArn"]["Fn::GetAtt"]
        dlq_id = target[0] if isinstance(target, list) else target.split(".")[0]
        pairs.append(QueuePair(
            name=res["Metadata"]["LocalName"], logical_id=rid,
            dlq_name=found[dlq_id]["Metadata"]["LocalName"], dlq_logical_id=dlq_id,
            max_receive_count=int(policy["maxReceiveCount"]),
        ))
    return sorted(pairs, key=lambda p: p.name)


# --- where the queues are -------------------------------------------------------------

def is_loopback(endpoint: str | None) -> bool:
    host = urlparse(endpoint).hostname if endpoint else None
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def local_endpoint(state_dir: Path) -> str:
    """The moto endpoint the running local stack recorded in its state directory."""
    running = state_dir / "running.json"
    if not running.exists():
        raise OperatorError(
            f"no local stack is running with state in {state_dir} (no running.json): start it with `make run`, "
            "or name the queues with --endpoint URL, --stack NAME, or --queue/--dlq NAME=URL")
    endpoint = json.loads(running.read_text()).get("moto_endpoint")
    if not endpoint:
        raise OperatorError(f"{running} names no moto endpoint; restart the local stack (`make run`)")
    return str(endpoint)


def by_local_names(sqs: Any, pairs: list[QueuePair], prefix: str) -> list[QueuePair]:
    """URLs of ``<prefix><LocalName>`` (the local stack's names)."""
    def url(name: str) -> str:
        try:
            return str(sqs.get_queue_url(QueueName=prefix + name)["QueueUrl"])
        except sqs.exceptions.QueueDoesNotExist:
            raise OperatorError(f"queue {prefix + name} does not exist at this endpoint") from None

    return [replace(p, url=url(p.name), dlq_url=url(p.dlq_name)) for p in pairs]


def by_stack(cloudformation: Any, pairs: list[QueuePair], stack: str) -> list[QueuePair]:
    """URLs from a deployed stack (a queue's physical id is its URL)."""
    physical: dict[str, str] = {}
    try:
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack):
            for r in page["StackResourceSummaries"]:
                physical[r["LogicalResourceId"]] = r.get("PhysicalResourceId", "")
    except ClientError as error:
        raise OperatorError(f"cannot read stack {stack}: {error.response['Error'].get('Message', error)}") from None
    missing = [i for p in pairs for i in (p.logical_id, p.dlq_logical_id) if not physical.get(i)]
    if missing:
        raise OperatorError(f"stack {stack} has no {', '.join(missing)}; is it this project's stack?")
    return [replace(p, url=physical[p.logical_id], dlq_url=physical[p.dlq_logical_id]) for p in pairs]


def by_explicit(pairs: list[QueuePair], queues: dict[str, str], dlqs: dict[str, str]) -> list[QueuePair]:
    """Pairs named on the command line (``--queue events=URL --dlq events=URL``)."""
    known = {p.name: p for p in pairs}
    chosen = []
    for name in sorted(set(queues) | set(dlqs)):
        if name not in dlqs:
            raise OperatorError(f"--queue {name}=... needs its dead-letter queue too: --dlq {name}=URL")
        base = known.get(name) or QueuePair(name, "", f"{name}-dlq", "", None)
        chosen.append(replace(base, url=queues.get(name), dlq_url=dlqs[name]))
    return chosen


# --- listing --------------------------------------------------------------------------

@dataclass
class DeadLetter:
    message_id: str
    sent_at: datetime | None
    receive_count: int
    reason: str
    summary: str


@dataclass
class Listing:
    pair: QueuePair
    depth: int
    letters: list[DeadLetter] = field(default_factory=list)


def depth(sqs: Any, url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    return int(attrs.get("ApproximateNumberOfMessages", 0))


def summarize(body: str) -> str:
    """A short, safe summary of a queue message's body (no property values)."""
    try:
        data = json.loads(body)
    except ValueError:
        return f"not JSON ({len(body)} characters): {body[:60]!r}"
    if not isinstance(data, dict):
        return f"JSON {type(data).__name__}, not a message object"
    parts = [str(data.get("type") or "no type")]
    if data.get("workspace_id"):
        parts.append(f"workspace {data['workspace_id']}")
    events = data.get("events")
    if isinstance(events, list):
        users = sorted({str(e.get("user_id")) for e in events if isinstance(e, dict) and e.get("user_id")})
        who = f"user {users[0]}" if len(users) == 1 else f"{len(users)} users"
        parts.append(f"{len(events)} event{'s' if len(events) != 1 else ''} from {who}")
    elif data.get("user_id"):
        parts.append(f"user {data['user_id']}")
    return ", ".join(parts)


def reason_of(message: dict[str, Any], pair: QueuePair) -> str:
    attributes = message.get("MessageAttributes") or {}
    reason = (attributes.get("reason") or {}).get("StringValue")
    if reason:
        source = (attributes.get("source_queue") or {}).get("StringValue")
        return reason + (f" (from {source})" if source and not source.endswith(pair.name) else "")
    times = f"{pair.max_receive_count} times" if pair.max_receive_count else "repeatedly"
    return f"the handler failed it {times}; see the logs for message id {message['MessageId']}"


def _sent_at(message: dict[str, Any]) -> datetime | None:
    raw = (message.get("Attributes") or {}).get("SentTimestamp")
    return datetime.fromtimestamp(int(raw) / 1000, tz=timezone.utc) if raw else None


def _receive(sqs: Any, url: str, visibility: int, wait: int) -> list[dict[str, Any]]:
    return list(sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=visibility, WaitTimeSeconds=wait,
        MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"],
    ).get("Messages", []))


def _release(sqs: Any, url: str, handles: list[str]) -> None:
    """Make received messages visible again at once."""
    for start in range(0, len(handles), 10):
        sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": h, "VisibilityTimeout": 0}
            for i, h in enumerate(handles[start:start + 10])])


def list_dead_letters(sqs: Any, pair: QueuePair, *, limit: int = 100, wait: int = 0) -> Listing:
    """The DLQ's messages (up to ``limit``), each received briefly and released again."""
    assert pair.dlq_url
    listing = Listing(pair, depth(sqs, pair.dlq_url))
    seen: set[str] = set()
    handles: list[str] = []
    empty = 0
    try:
        while len(seen) < limit and empty < (1 if wait == 0 else 2):
            messages = _receive(sqs, pair.dlq_url, LIST_VISIBILITY_SECONDS, wait)
            if not messages:
                empty += 1
                continue
            empty = 0
            for m in messages:
                handles.append(m["ReceiptHandle"])
                if m["MessageId"] in seen:
                    continue
                seen.add(m["MessageId"])
                listing.letters.append(DeadLetter(
                    message_id=m["MessageId"], sent_at=_sent_at(m),
                    receive_count=int((m.get("Attributes") or {}).get("ApproximateReceiveCount", 0)),
                    reason=reason_of(m, pair), summary=summarize(m.get("Body", "")),
                ))
    finally:
        _release(sqs, pair.dlq_url, handles)
    listing.letters.sort(key=lambda d: (d.sent_at or datetime.min.replace(tzinfo=timezone.utc), d.message_id))
    return listing


def print_listing(listing: Listing, out: TextIO) -> None:
    pair = listing.pair
    where = (pair.dlq_url or "").rsplit("/", 1)[-1]
    count = f"{listing.depth} dead letter{'s' if listing.depth != 1 else ''}"
    print(f"{pair.name}: {count} in {where}", file=out)
    for d in listing.letters:
        sent = d.sent_at.strftime("%Y-%m-%d %H:%M:%S UTC") if d.sent_at else "unknown"
        print(f"  {d.message_id}", file=out)
        print(f"    first sent  {sent}   received {d.receive_count} times (listings count too)", file=out)
        print(f"    reason      {d.reason}", file=out)
        print(f"    message     {d.summary}", file=out)
    if len(listing.letters) < listing.depth:
        print(f"  ... {listing.depth - len(listing.letters)} more not shown (--max N)", file=out)


# --- redrive --------------------------------------------------------------------------

@dataclass
class Moved:
    moved: int = 0
    failed: dict[str, str] = field(default_factory=dict)  # message id -> why it stayed


def _copy_entry(index: int, message: dict[str, Any]) -> dict[str, Any]:
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        if name in ANNOTATIONS:
            continue
        kept = {k: value[k] for k in ("DataType", "StringValue", "BinaryValue") if k in value}
        attributes[name] = kept
    entry: dict[str, Any] = {"Id": str(index), "MessageBody": message["Body"]}
    if attributes:
        entry["MessageAttributes"] = attributes
    system = message.get("Attributes") or {}
    if "MessageGroupId" in system:  # FIFO queues
        entry["MessageGroupId"] = system["MessageGroupId"]
        entry["MessageDeduplicationId"] = system.get("MessageDeduplicationId") or message["MessageId"]
    return entry


def redrive_by_copy(sqs: Any, pair: QueuePair) -> Moved:
    """Move every dead letter back to the source queue, 10 at a time: send the copies,
    then delete from the DLQ only those whose copy SQS accepted. Failed ones stay."""
    assert pair.url and pair.dlq_url
    result = Moved()
    keep: list[str] = []  # receipt handles of failed messages, released at the end
    try:
        while True:
            messages = []
            for m in _receive(sqs, pair.dlq_url, MOVE_VISIBILITY_SECONDS, 0):
                if m["MessageId"] in result.failed:  # failed before and visible again: leave it
                    keep.append(m["ReceiptHandle"])
                else:
                    messages.append(m)
            if not messages:
                break
            reply = sqs.send_message_batch(QueueUrl=pair.url, Entries=[_copy_entry(i, m) for i, m in enumerate(messages)])
            accepted = {e["Id"] for e in reply.get("Successful", [])}
            for failure in reply.get("Failed", []):
                m = messages[int(failure["Id"])]
                result.failed[m["MessageId"]] = failure.get("Message") or failure.get("Code", "refused")
                keep.append(m["ReceiptHandle"])
            done = [m for i, m in enumerate(messages) if str(i) in accepted]
            if done:
                sqs.delete_message_batch(QueueUrl=pair.dlq_url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])
                result.moved += len(done)
    finally:
        _release(sqs, pair.dlq_url, keep)
    return result


def queue_arn(sqs: Any, url: str) -> str:
    return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def start_move_task(sqs: Any, pair: QueuePair) -> tuple[str, str]:
    """StartMessageMoveTask from the DLQ to this source queue; (task handle, DLQ ARN).

    The destination is named: messages the handler sent to the DLQ itself have no
    "original source" for SQS to return them to."""
    assert pair.url and pair.dlq_url
    source_arn = queue_arn(sqs, pair.dlq_url)
    reply = sqs.start_message_move_task(SourceArn=source_arn, DestinationArn=queue_arn(sqs, pair.url))
    return str(reply["TaskHandle"]), source_arn


def follow_move_task(sqs: Any, source_arn: str, handle: str, out: TextIO) -> dict[str, Any]:
    """Report the task's progress until it ends; its last ListMessageMoveTasks entry."""
    last = None
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=source_arn, MaxResults=10).get("Results", [])
        task = next((t for t in tasks if t.get("TaskHandle") == handle), tasks[0] if tasks else {})
        status = task.get("Status", "UNKNOWN")
        progress = (status, task.get("ApproximateNumberOfMessagesMoved"), task.get("ApproximateNumberOfMessagesToMove"))
        if progress != last:
            moved, total = progress[1], progress[2]
            print(f"  {status}: {moved if moved is not None else '?'} of {total if total is not None else '?'} moved"
                  + (f" ({task['FailureReason']})" if task.get("FailureReason") else ""), file=out)
            last = progress
        if status in MOVE_DONE or not tasks:
            return dict(task)
        time.sleep(MOVE_POLL_SECONDS)


# --- the command ----------------------------------------------------------------------

def _pairs_arg(values: list[str], flag: str) -> dict[str, str]:
    found = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or not name or not url:
            raise OperatorError(f"{flag} takes NAME=URL (NAME as in infra/resources.yaml, e.g. events), not {value!r}")
        found[name] = url
    return found


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m ops.dlq", description="List and redrive dead-lettered queue messages.")
    parser.add_argument("action", nargs="?", choices=["list", "redrive"], default="list")
    parser.add_argument("name", nargs="?", metavar="QUEUE", help="only this queue (e.g. events); default all")
    parser.add_argument("--state-dir", default=".local-state", help="the local stack's state directory")
    parser.add_argument("--endpoint", help="an SQS endpoint URL (e.g. a moto server) instead of the local stack's")
    parser.add_argument("--stack", help="a deployed CloudFormation stack: find the queues by logical id")
    parser.add_argument("--queue", dest="queue_urls", action="append", default=[], metavar="NAME=URL")
    parser.add_argument("--dlq", dest="dlq_urls", action="append", default=[], metavar="NAME=URL")
    parser.add_argument("--region", help="AWS region (default: AWS_DEFAULT_REGION, AWS_REGION, us-east-1)")
    parser.add_argument("--wait", action="store_true", help="redrive: follow the move task until it ends")
    parser.add_argument("--max", type=int, default=100, help="list at most this many messages per queue")
    return parser.parse_args(argv)


@dataclass
class Target:
    sqs: Any
    local: bool  # a loopback endpoint (moto): redrive by copying
    pairs: list[QueuePair]


def connect(args: argparse.Namespace) -> Target:
    import boto3

    region = args.region or os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or "us-east-1"
    pairs = template_pairs()
    cloud = bool(args.stack or args.queue_urls or args.dlq_urls)
    endpoint = args.endpoint or (None if cloud else local_endpoint(Path(args.state_dir)))
    local = is_loopback(endpoint)
    session = boto3.session.Session(region_name=region, **(
        {"aws_access_key_id": "local", "aws_secret_access_key": "local"} if local else {}))
    sqs = session.client("sqs", endpoint_url=endpoint)
    if args.stack:
        pairs = by_stack(session.client("cloudformation"), pairs, args.stack)
    elif cloud:
        pairs = by_explicit(pairs, _pairs_arg(args.queue_urls, "--queue"), _pairs_arg(args.dlq_urls, "--dlq"))
    else:
        from chalicelib.config import settings

        pairs = by_local_names(sqs, pairs, settings.resource_prefix)
    return Target(sqs, local, pairs)


def run(args: argparse.Namespace, target: Target, out: TextIO) -> int:
    pairs = [p for p in target.pairs if not args.name or p.name == args.name]
    if not pairs:
        names = ", ".join(p.name for p in target.pairs) or "none"
        raise OperatorError(f"no queue {args.name!r} with a dead-letter queue (queues: {names})")
    status = 0
    for pair in pairs:
        if args.action == "list":
            print_listing(list_dead_letters(target.sqs, pair, limit=args.max, wait=0 if target.local else 1), out)
            continue
        if not pair.url:
            raise OperatorError(f"redrive needs the source queue of {pair.name}: --queue {pair.name}=URL")
        waiting = depth(target.sqs, pair.dlq_url or "")
        if waiting == 0:
            print(f"{pair.name}: no dead letters to redrive", file=out)
        elif target.local:
            moved = redrive_by_copy(target.sqs, pair)
            print(f"{pair.name}: moved {moved.moved} message(s) back to {pair.url.rsplit('/', 1)[-1]} "
                  "(copied locally: moto has no StartMessageMoveTask)", file=out)
            for message_id, why in moved.failed.items():
                print(f"  {message_id} stays in the dead-letter queue: {why}", file=out)
            status = status or (1 if moved.failed else 0)
        else:
            handle, source_arn = start_move_task(target.sqs, pair)
            print(f"{pair.name}: moving {waiting} message(s) back to {pair.url.rsplit('/', 1)[-1]}; "
                  f"task handle {handle}", file=out)
            if args.wait:
                task = follow_move_task(target.sqs, source_arn, handle, out)
                status = status or (0 if task.get("Status") == "COMPLETED" else 1)
    return status


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args, connect(args), out or sys.stdout)
    except OperatorError as error:
        print(f"dlq: {error}", file=sys.stderr)
        return 2
    except EndpointConnectionError as error:
        print(f"dlq: nothing answers at {error.kwargs.get('endpoint_url')}; is the local stack (`make run`) "
              "still running?", file=sys.stderr)
        return 2
    except ClientError as error:
        problem = error.response.get("Error", {})
        print(f"dlq: AWS refused {error.operation_name}: {problem.get('Message') or problem.get('Code')}",
              file=sys.stderr)
        return 2
    except BotoCoreError as error:
        print(f"dlq: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
