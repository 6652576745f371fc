"""Feed local event sources to the same Chalice handler objects Lambda calls, in AWS's event shapes.

`chalice local` serves HTTP only, so this stands in for the Lambda event source mappings, the SNS
subscriptions and the schedule. Which handler each source feeds is declared in `chalicelib.resources`
(today: the intake queue -> `dispatch`, the alert deliveries queue (subscribed to `cx-alerts`) ->
`deliver_alerts`, the `ses-events` topic -> `on_ses_event` (through the local queue
`devstack.provision` subscribed to it), the responses table stream -> `on_response`, a timer ->
`tick`); the event shapes themselves are built by `devstack.lambda_events`.

Messages are received with the queue's own visibility timeout, as Lambda's poller receives them, so
none comes back while its invocation runs. A handler may change a failed message's visibility itself
(`deliver_alerts` backs off, `dispatch` waits out another invocation's claim: ChangeMessageVisibility,
which moto honours, noted by devstack/iam.py); every other failed message is made visible again after
`retry_visibility_s` (2 s: retries happen fast locally).

Concurrency is Lambda's: each queue has `concurrency` pollers (default 4, like a small reserved
concurrency), each receiving a batch and invoking the handler on its own, so two batches of the same
contact can run in parallel and a message can be delivered again, as in AWS. A stream is read by one
poller, one invocation per shard at a time (DynamoDB streams keep a shard's records in order), and
the schedule fires one invocation at a time.

`stop()` drains: no new ReceiveMessage once it is called, the batches in flight finish (and are
deleted), then it says how many messages each queue still holds; moto keeps them in memory only.
`drain_once()` runs one pass of each source in the caller's thread so tests can drive it
deterministically (use either `start()` or `drain_once()`, not both at once).
Logs carry ids and counts only, never message bodies or item images.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import resources
from devstack.faults import Crash
from devstack.iam import as_function, watching_visibility
from devstack.lambda_events import (
    ACCOUNT_ID,
    LambdaContext,
    dynamodb_event,
    scheduled_event,
    sns_event,
    sqs_event,
)
from devstack.provision import client, consumer_queue_name

log = logging.getLogger(__name__)


def _function(app: Any, handler: str) -> Handler:
    """app.py's `handler`, invoked as its own Lambda function: only the AWS calls its role allows."""
    return as_function(handler, getattr(app, handler))


def _url_variable(queue: str) -> str:
    """The settings variable carrying a consumed queue's URL: the runner finds the queue through it.
    `Queue.env` is optional in general; a consumed queue always has one (tests/unit/test_wiring.py)."""
    var = resources.queue(queue).env
    if var is None:
        raise ValueError(f"queue {queue!r} has a consumer but no settings variable for its URL")
    return var


def _arn_variable(topic: str) -> str:
    """The settings variable carrying a consumed topic's ARN (the local stack exports every one)."""
    var = resources.topic(topic).env
    if var is None:
        raise ValueError(f"topic {topic!r} has a consumer but no settings variable for its ARN")
    return var


# Which handler each source feeds, from chalicelib.resources: settings variable of the queue's URL
# -> handler, logical table -> handler, logical topic -> handler, and the scheduled handler.
DEFAULT_QUEUES = {_url_variable(name): handler for name, handler in resources.queue_consumers().items()}
DEFAULT_STREAMS = resources.stream_consumers()
DEFAULT_TOPICS = resources.topic_consumers()
DEFAULT_SCHEDULE = resources.SCHEDULE_CONSUMER
# Invocations in parallel per queue (pollers), like a small reserved concurrency in AWS.
DEFAULT_CONCURRENCY = 4


# --- Sources -------------------------------------------------------------------------------------

Handler = Callable[[dict[str, Any], LambdaContext], Any]


class QueueSource:
    """An SQS event source mapping with ReportBatchItemFailures."""

    def __init__(self, sqs: Any, queue_url: str, handler: Handler, name: str, region: str,
                 retry_visibility_s: int = 2) -> None:
        self.sqs, self.queue_url, self.handler, self.name, self.region = (
            sqs, queue_url, handler, name, region)
        # Failed messages reappear after this, not after the queue's 60 s: retries happen fast locally.
        self.retry_visibility_s = retry_visibility_s
        self.queue_arn = str(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
                             ["Attributes"]["QueueArn"])
        self._lock = threading.Lock()
        self._receiving = 0             # ReceiveMessage calls in flight (pollers run concurrently)

    @property
    def queue_name(self) -> str:
        return self.queue_url.rsplit("/", 1)[-1]

    @property
    def receiving(self) -> int:
        with self._lock:
            return self._receiving

    def poll(self, wait_s: int) -> int:
        """Receive one batch, invoke the handler, delete what succeeded; returns messages delivered."""
        with self._lock:
            self._receiving += 1
        try:
            # With the queue's own visibility timeout, as Lambda's poller receives: no message comes
            # back while its invocation still runs (a 30 s function, a 180 s timeout on intake).
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s,
                AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        finally:
            with self._lock:
                self._receiving -= 1
        if messages:
            self._deliver(messages)     # once received, a batch is finished even when stopping
        return len(messages)

    def depth(self) -> QueueDepth:
        return queue_depth(self.sqs, self.queue_url)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        context = LambdaContext(function_name=self.name, region=self.region)
        with watching_visibility() as set_by_function:
            try:
                result = self.handler(sqs_event(messages, self.queue_arn, self.region), context)
            except Crash as crash:
                # As in Lambda when the function dies: nothing is deleted, the batch comes back.
                log.warning("%s: %s; its batch of %d message(s) will be delivered again",
                            self.name, crash, len(messages))
                self._retry_soon(messages, set_by_function)
                return
            except Exception:
                # As in Lambda: the whole batch becomes visible again and is retried.
                log.exception("%s raised on a batch of %d message(s); all will be retried",
                              self.name, len(messages))
                self._retry_soon(messages, set_by_function)
                return
        failed = failed_ids(result, {m["MessageId"] for m in messages}, self.name)
        done = [m for m in messages if m["MessageId"] not in failed]
        if failed:
            log.warning("%s reported %d of %d message(s) failed; they will be retried",
                        self.name, len(failed), len(messages))
            self._retry_soon([m for m in messages if m["MessageId"] in failed], set_by_function)
        self._delete(done)

    def _retry_soon(self, messages: list[dict[str, Any]], set_by_function: set[str]) -> None:
        """A failed message is visible again after `retry_visibility_s`, not the queue's timeout (fast
        retries locally), unless the function set its visibility itself (a backoff, a claim's lease)."""
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": self.retry_visibility_s}
                   for i, m in enumerate(messages) if m["ReceiptHandle"] not in set_by_function]
        if not entries:
            return
        response = self.sqs.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)
        for failure in response.get("Failed", []):
            log.warning("%s: a failed message keeps the queue's visibility timeout: %s",
                        self.queue_name, failure.get("Code"))

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        for failure in response.get("Failed", []):
            log.error("could not delete a message from %s: %s", self.queue_url, failure.get("Code"))


class TopicSource:
    """An SNS subscription invoking a Lambda function: one message per invocation, retried twice
    more when the function fails (Lambda's asynchronous invocation), then dropped loudly. The
    messages come from the local queue subscribed to the topic (SNS's JSON envelope)."""

    def __init__(self, sqs: Any, queue_url: str, topic_arn: str, handler: Handler, name: str, region: str,
                 max_attempts: int = 3, retry_visibility_s: int = 2) -> None:
        self.sqs, self.queue_url, self.topic_arn, self.handler, self.name, self.region = (
            sqs, queue_url, topic_arn, handler, name, region)
        self.subscription_arn = f"{topic_arn}:local-{name}"
        self.max_attempts, self.retry_visibility_s = max_attempts, retry_visibility_s

    def poll(self, wait_s: int) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s,
            VisibilityTimeout=self.retry_visibility_s, AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])
        for message in messages:
            self._deliver(message)
        return len(messages)

    def _deliver(self, message: dict[str, Any]) -> None:
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            envelope = json.loads(message["Body"])
            self.handler(sns_event(envelope, self.subscription_arn),
                         LambdaContext(function_name=self.name, region=self.region))
        except (Exception, Crash):
            if attempt < self.max_attempts:
                log.exception("%s raised on an SNS message (attempt %d of %d); it will be retried",
                              self.name, attempt, self.max_attempts)
                return          # visible again after retry_visibility_s
            log.exception("DROPPING an SNS message after %d failed attempts: in AWS it would go to the "
                          "function's on-failure destination, if any", attempt)
        self.sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])


@dataclass(frozen=True)
class QueueDepth:
    waiting: int        # ApproximateNumberOfMessages (+ delayed)
    in_flight: int      # ApproximateNumberOfMessagesNotVisible: received, not deleted yet

    @property
    def total(self) -> int:
        return self.waiting + self.in_flight


def queue_depth(sqs: Any, queue_url: str) -> QueueDepth:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return QueueDepth(int(attributes.get("ApproximateNumberOfMessages", 0))
                      + int(attributes.get("ApproximateNumberOfMessagesDelayed", 0)),
                      int(attributes.get("ApproximateNumberOfMessagesNotVisible", 0)))


def describe_leftovers(depths: Mapping[str, QueueDepth]) -> list[str]:
    """What a stop leaves on the queues: one line per queue that still holds messages, or one line
    saying they were all empty (a report that is always there is one a reader can trust)."""
    lines = [f"{name}: {d.total} message(s) still queued ({d.waiting} waiting, {d.in_flight} in flight)"
             for name, d in depths.items() if d.total]
    if lines:
        lines.append("moto keeps queues in memory only: these messages are lost when the stack stops")
    elif depths:
        lines.append(f"all {len(depths)} queues were empty at the stop")
    return lines


def failed_ids(result: Any, batch_ids: set[str], name: str) -> set[str]:
    """Ids from a `batchItemFailures` response; like Lambda, an invalid response fails the batch."""
    if not isinstance(result, dict) or "batchItemFailures" not in result:
        return set()
    try:
        ids = {str(item["itemIdentifier"]) for item in result["batchItemFailures"]}
    except (TypeError, KeyError):
        ids = {""}
    if not ids <= batch_ids:
        log.error("%s returned batchItemFailures with unknown or empty ids; retrying the whole batch",
                  name)
        return set(batch_ids)
    return ids


def resume_at(result: Any, sequences: list[str], name: str) -> int | None:
    """Where a stream batch resumes after a `batchItemFailures` response, as Lambda reads it: the
    position of the lowest sequence number it names (the records before it are done); None when the
    batch succeeded (no response, no list, an empty list). An item without an id, or with one that is
    not in the batch, fails the whole batch (0)."""
    if not isinstance(result, dict) or result.get("batchItemFailures") is None:
        return None
    positions = {sequence: n for n, sequence in enumerate(sequences)}
    try:
        named = [positions[str(item["itemIdentifier"])] for item in result["batchItemFailures"]]
    except (TypeError, KeyError):
        log.error("%s returned batchItemFailures with unknown or empty ids; retrying the whole batch", name)
        return 0
    return min(named, default=None)


@dataclass
class ShardCursor:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    last_sequence: str | None = None
    finished: bool = False          # closed shard read to its end


class StreamPositions:
    """Where each stream's shards were read up to (the last record done: handled, or sent to the
    on-failure destination), kept in a JSON file, as an event source mapping keeps its position in
    AWS. Needed when DynamoDB Local keeps its data on disk: its streams survive a restart too, and
    reading them again from TRIM_HORIZON would hand every answer of the last 24 hours to
    `on_response` a second time (scores counted twice)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._data: dict[str, dict[str, dict[str, Any]]] = json.loads(path.read_text())
        except FileNotFoundError:
            self._data = {}
        except ValueError:
            log.warning("%s is not readable JSON; streams are read from their start", path)
            self._data = {}

    def saved(self, stream_arn: str, shard_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._data.get(stream_arn, {}).get(shard_id, {}))

    def save(self, stream_arn: str, cursor: ShardCursor) -> None:
        with self._lock:
            self._data.setdefault(stream_arn, {})[cursor.shard_id] = {
                "last_sequence": cursor.last_sequence, "finished": cursor.finished}
            partial = self.path.with_name(self.path.name + ".partial")
            partial.write_text(json.dumps(self._data, indent=1))
            os.replace(partial, self.path)      # never half a file, even if the stack is killed


OnFailure = Callable[[dict[str, Any]], None]


class StreamSource:
    """A DynamoDB stream event source mapping: TRIM_HORIZON (or the saved position), batches of up
    to 100, bounded retries, a failing batch bisected (BisectBatchOnFunctionError), and what still
    fails sent to the on-failure destination (`on_failure`: the stream's DLQ) as AWS sends it: the
    batch's shard and sequence numbers, never its records.

    With ReportBatchItemFailures, as the deployed mapping has it: a handler that returns
    `batchItemFailures` has done the records before the lowest sequence number it names; the shard's
    position moves past them (and is saved), and the next attempt holds the records from that one on.
    Such a retry counts against `max_attempts` as any other; once they are used up, what is left is
    bisected. An exception, a Crash, or an item failure naming no record of the batch fails the whole
    invocation (everything since the last checkpoint is retried)."""

    def __init__(self, dynamodb: Any, streams: Any, table_name: str, handler: Handler, name: str,
                 region: str, max_attempts: int = 3, retry_delay_s: float = 0.5,
                 describe_every_s: float = 1.0, positions: StreamPositions | None = None,
                 on_failure: OnFailure | None = None) -> None:
        self.streams, self.handler, self.name, self.region = streams, handler, name, region
        self.max_attempts, self.retry_delay_s = max_attempts, retry_delay_s
        self.on_failure = on_failure
        self.describe_every_s = describe_every_s
        self.positions = positions
        self.stream_arn = str(dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"])
        self.cursors: dict[str, ShardCursor] = {}
        self._described_at = float("-inf")
        self._reading = False           # a poll is under way (a batch may be in its retries)
        self._last_read = 0             # records the last finished poll delivered

    @property
    def caught_up(self) -> bool:
        """Whether the last poll found nothing new and none is under way: the function has had every
        record written so far (what a benchmark waits for before it counts the stream's work)."""
        return not self._reading and self._last_read == 0

    def poll(self, refresh_shards: bool = False) -> int:
        """Read every readable shard once; returns records delivered."""
        self._reading = True
        try:
            if refresh_shards or time.monotonic() - self._described_at >= self.describe_every_s:
                self._refresh_shards()
            self._last_read = sum(self._read(cursor) for cursor in list(self.cursors.values())
                                  if not cursor.finished and self._parent_done(cursor))
        finally:
            self._reading = False
        return self._last_read

    def _refresh_shards(self) -> None:
        """New shards appear when DynamoDB rolls a shard over; start each at TRIM_HORIZON."""
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in description["Shards"]:
                if shard["ShardId"] not in self.cursors:
                    saved = self.positions.saved(self.stream_arn, shard["ShardId"]) if self.positions else {}
                    self.cursors[shard["ShardId"]] = ShardCursor(
                        shard["ShardId"], shard.get("ParentShardId"),
                        last_sequence=saved.get("last_sequence"), finished=bool(saved.get("finished")))
            if not description.get("LastEvaluatedShardId"):
                break
            kwargs["ExclusiveStartShardId"] = description["LastEvaluatedShardId"]
        self._described_at = time.monotonic()

    def _parent_done(self, cursor: ShardCursor) -> bool:
        # Records of one key stay in order only if a parent shard is read before its children.
        parent = self.cursors.get(cursor.parent_id or "")
        return parent is None or parent.finished

    def _read(self, cursor: ShardCursor) -> int:
        if cursor.iterator is None:
            cursor.iterator = self._iterator(cursor)
        try:
            response = self.streams.get_records(ShardIterator=cursor.iterator, Limit=100)
        except ClientError as exc:
            # DynamoDB Local answers TrimmedDataAccess to an iterator taken while the shard was
            # empty, once records arrive; like an expired one, a fresh iterator reads on.
            if exc.response["Error"]["Code"] not in ("ExpiredIteratorException", "TrimmedDataAccessException"):
                raise
            cursor.iterator = None      # resume after the last record done, next pass
            return 0
        records = response.get("Records", [])
        if records:
            # Until the batch is done, a failure (the on-failure destination refusing) reads on from
            # the last record done, next pass, not from the start of the batch.
            cursor.iterator = None
            self._deliver(records, cursor)
        cursor.iterator = response.get("NextShardIterator")
        cursor.finished = cursor.iterator is None
        if self.positions and cursor.finished:
            self.positions.save(self.stream_arn, cursor)
        return len(records)

    def _iterator(self, cursor: ShardCursor) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": cursor.shard_id}
        if cursor.last_sequence:
            try:
                return str(self.streams.get_shard_iterator(
                    **kwargs, ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                    SequenceNumber=cursor.last_sequence)["ShardIterator"])
            except ClientError as exc:
                # A saved position older than the stream's 24 h: AWS lost those records too.
                if exc.response["Error"]["Code"] != "TrimmedDataAccessException":
                    raise
                log.warning("%s: records after the saved position were trimmed; reading %s from "
                            "its oldest record", self.name, cursor.shard_id)
        return str(self.streams.get_shard_iterator(**kwargs, ShardIteratorType="TRIM_HORIZON")
                   ["ShardIterator"])

    def _deliver(self, records: list[dict[str, Any]], cursor: ShardCursor) -> None:
        """Retry what is not done yet (the shard does not advance past it); what still fails after
        the attempts is split in two and each half delivered the same way; a single record that
        still fails goes to the on-failure destination (loudly, and only skipped when there is none)."""
        left = self._attempts(records, cursor)
        if not left:
            return
        if len(left) > 1:
            half = len(left) // 2
            log.warning("%s: bisecting a failing batch of %d stream record(s)", self.name, len(left))
            self._deliver(left[:half], cursor)
            self._deliver(left[half:], cursor)
            return
        self._failed(left, cursor.shard_id)
        self._checkpoint(cursor, left[-1])

    def _attempts(self, records: list[dict[str, Any]], cursor: ShardCursor) -> list[dict[str, Any]]:
        """Up to `max_attempts` invocations; returns the records still not done. An exception (or a
        Crash, or an invalid `batchItemFailures`) fails the records of that invocation; a partial
        failure checkpoints before the record it names, and the next attempt starts there."""
        for attempt in range(1, self.max_attempts + 1):
            event = dynamodb_event(records, self.stream_arn, self.region)
            try:
                result = self.handler(event, LambdaContext(function_name=self.name, region=self.region))
            except (Exception, Crash):
                log.exception("%s raised on %d stream record(s), attempt %d of %d",
                              self.name, len(records), attempt, self.max_attempts)
            else:
                resume = resume_at(result, [r["dynamodb"]["SequenceNumber"] for r in records], self.name)
                if resume is None:
                    self._checkpoint(cursor, records[-1])
                    return []
                if resume:
                    self._checkpoint(cursor, records[resume - 1])
                log.warning("%s did %d of %d stream record(s), attempt %d of %d; it stopped at "
                            "sequence %s", self.name, resume, len(records), attempt, self.max_attempts,
                            records[resume]["dynamodb"]["SequenceNumber"])
                records = records[resume:]
            if attempt < self.max_attempts:
                time.sleep(self.retry_delay_s)
        return records

    def _checkpoint(self, cursor: ShardCursor, record: dict[str, Any]) -> None:
        """Everything up to `record` is done (handled, or sent to the on-failure destination): the
        shard's position moves past it, and is saved."""
        cursor.last_sequence = record["dynamodb"]["SequenceNumber"]
        if self.positions:
            self.positions.save(self.stream_arn, cursor)

    def _failed(self, records: list[dict[str, Any]], shard_id: str) -> None:
        first, last = records[0]["dynamodb"]["SequenceNumber"], records[-1]["dynamodb"]["SequenceNumber"]
        if self.on_failure is None:
            log.error("SKIPPING %d stream record(s) after %d failed attempts (first sequence %s): no "
                      "on-failure destination", len(records), self.max_attempts, first)
            return
        self.on_failure({
            "requestContext": {"condition": "RetryAttemptsExhausted", "functionArn": self.name,
                               "approximateInvokeCount": self.max_attempts},
            "DDBStreamBatchInfo": {"shardId": shard_id, "startSequenceNumber": first, "endSequenceNumber": last,
                                   "batchSize": len(records), "streamArn": self.stream_arn},
        })
        log.error("%d stream record(s) failed %d attempts: sent to the on-failure destination (first sequence %s)",
                  len(records), self.max_attempts, first)


class ScheduleSource:
    """An EventBridge `rate(...)` rule targeting the handler. One invocation at a time, also when the
    time machine (devstack/time_machine.py) fires it from another thread than the timer's."""

    def __init__(self, handler: Handler, name: str, region: str, rule_name: str) -> None:
        self.handler, self.name, self.region = handler, name, region
        self.rule_arn = f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"
        self._one_at_a_time = threading.Lock()

    def fire(self) -> Any:
        with self._one_at_a_time:
            try:
                return self.handler(scheduled_event(self.rule_arn, self.region),
                                    LambdaContext(function_name=self.name, region=self.region))
            except (Exception, Crash):
                log.exception("%s raised on a scheduled event", self.name)    # the next tick retries
                return None


def _stream_dlq(sqs: Any, prefix: str, table: str) -> OnFailure | None:
    """The on-failure destination of a table's stream: its `<table>-stream-dlq` queue, if declared."""
    name = f"{table}-stream-dlq"
    if name not in {q.name for q in resources.QUEUES}:
        return None
    url = str(sqs.get_queue_url(QueueName=resources.physical(prefix, name))["QueueUrl"])
    return lambda record: sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))


# --- Runner --------------------------------------------------------------------------------------

class Runner:
    """Drive `app`'s event handlers from the local queue, stream and clock until stop()."""

    def __init__(self, app: Any, *, dynamodb_endpoint: str, aws_endpoint: str, region: str,
                 env: Mapping[str, str], tick_seconds: float = 60.0, poll_interval_s: float = 0.2,
                 queues: Mapping[str, str] = DEFAULT_QUEUES,
                 streams: Mapping[str, str] = DEFAULT_STREAMS,
                 topics: Mapping[str, str] = DEFAULT_TOPICS,
                 schedule: str | None = DEFAULT_SCHEDULE, retry_visibility_s: int = 2,
                 concurrency: int = DEFAULT_CONCURRENCY, wait_s: int = 1,
                 stream_positions: Path | None = None,
                 functions: Callable[[str], Handler] | None = None) -> None:
        """`stream_positions`: a file keeping where the streams were read up to across restarts
        (when DynamoDB Local keeps its data); None reads each stream from its start.
        `functions`: how a handler is invoked, by its name (the local stack's: in worker processes
        of its function, devstack/workers.py); None calls `app`'s handlers in this process."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.tick_seconds = tick_seconds
        self.poll_interval_s = poll_interval_s
        self.concurrency = concurrency
        self.wait_s = wait_s            # SQS long poll of each ReceiveMessage (bounds how long stop() waits)
        prefix = env["KOE_RESOURCE_PREFIX"]
        function = functions or functools.partial(_function, app)
        # One SQS client for every poller (each long-polls on its own connection) and the caller
        # reading the queues' depth.
        sqs = client("sqs", aws_endpoint, region, pool=len(queues) * concurrency + len(topics) + 1)
        self.queue_sources = [
            QueueSource(sqs, env[var], function(handler), f"{prefix}{handler}", region,
                        retry_visibility_s)
            for var, handler in queues.items()]
        self.topic_sources = [
            TopicSource(sqs, sqs.get_queue_url(QueueName=consumer_queue_name(prefix, topic))["QueueUrl"],
                        env[_arn_variable(topic)], function(handler), f"{prefix}{handler}", region,
                        retry_visibility_s=retry_visibility_s)
            for topic, handler in topics.items()]
        dynamodb = client("dynamodb", dynamodb_endpoint, region)
        dynamodb_streams = client("dynamodbstreams", dynamodb_endpoint, region)
        positions = StreamPositions(stream_positions) if stream_positions else None
        self.stream_sources = [
            StreamSource(dynamodb, dynamodb_streams, resources.physical(prefix, table),
                         function(handler), f"{prefix}{handler}", region, positions=positions,
                         on_failure=_stream_dlq(sqs, prefix, table),
                         max_attempts=1 + resources.STREAM_MAX_RETRIES)
            for table, handler in streams.items()]
        self.schedule_source = (ScheduleSource(function(schedule), f"{prefix}{schedule}",
                                               region, f"{prefix}{schedule}-schedule")
                                if schedule else None)
        self._last_tick = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def drain_once(self) -> int:
        """One pass of each source in this thread (a tick only if one is due); returns the number
        of SQS messages plus stream records delivered."""
        delivered = sum(q.poll(wait_s=0) for q in self.queue_sources)
        delivered += sum(t.poll(wait_s=0) for t in self.topic_sources)
        delivered += sum(s.poll(refresh_shards=True) for s in self.stream_sources)
        if self.schedule_source and time.monotonic() - self._last_tick >= self.tick_seconds:
            self.tick_once()
        return delivered

    def tick_once(self) -> Any:
        """Deliver one scheduled event now; returns what the handler returned."""
        assert self.schedule_source is not None, "this runner has no schedule"
        self._last_tick = time.monotonic()
        return self.schedule_source.fire()

    def start(self) -> Runner:
        self._stop.clear()
        for q in self.queue_sources:        # `concurrency` pollers per queue, as Lambda's SQS pollers
            for n in range(1, self.concurrency + 1):
                self._spawn(f"{q.name}-{n}", functools.partial(
                    self._poll_loop, functools.partial(q.poll, wait_s=self.wait_s)))
        for t in self.topic_sources:        # one poller per subscription
            self._spawn(t.name, functools.partial(
                self._poll_loop, functools.partial(t.poll, wait_s=self.wait_s)))
        for s in self.stream_sources:       # one poller per stream: one invocation per shard at a time
            self._spawn(s.name, functools.partial(self._poll_loop, s.poll))
        if self.schedule_source:
            self._spawn(self.schedule_source.name, self._tick_loop)
        return self

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"runner-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_loop(self, step: Callable[[], int]) -> None:
        while not self._stop.is_set():
            try:
                delivered = step()
            except Exception:
                # A source error (e.g. moto restarting) must not end the loop; back off a little.
                log.exception("event source poll failed")
                delivered = 0
            if not delivered:
                self._stop.wait(self.poll_interval_s)

    def _tick_loop(self) -> None:
        while not self._stop.wait(max(0.0, self._last_tick + self.tick_seconds - time.monotonic())):
            self.tick_once()

    def stop(self, timeout_s: float = 40.0, report: bool = True) -> dict[str, QueueDepth]:
        """Drain, then stop: no new ReceiveMessage from now on; a long poll already waiting ends
        within `wait_s`, and a batch it returns is handled; invocations in flight finish (a Lambda
        timeout is 30 s). Returns what each consumed queue still holds (and logs it, if `report`)."""
        self._stop.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                log.warning("%s did not finish within %.0f s", thread.name, timeout_s)
        self._threads = []
        return self.leftovers(report)

    def leftovers(self, report: bool = True) -> dict[str, QueueDepth]:
        """Messages still on each consumed queue (by queue name); logged when there are any."""
        depths: dict[str, QueueDepth] = {}
        for source in self.queue_sources:
            try:
                depths[source.queue_name] = source.depth()
            except Exception:       # moto already gone: nothing to say about it
                log.warning("could not read the depth of %s", source.queue_name)
        for line in describe_leftovers(depths) if report else []:
            log.warning("%s", line)
        return depths

