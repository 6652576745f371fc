"""Feed local event sources to the same Chalice handler objects Lambda calls, in AWS's event shapes.

`chalice local` serves HTTP only, so this stands in for the Lambda event source mappings and the
schedule. Which handler each source feeds is declared in `chalicelib.resources` (today: the intake
queue -> `dispatch`, the responses table stream -> `on_response`, a timer -> `tick`); the event
shapes themselves are built by `devstack.lambda_events`. Each source runs in its own thread (one
invocation at a time per handler, as with a reserved concurrency of 1); `drain_once()` runs one
pass of each source in the caller's thread so tests can drive it deterministically (use either
`start()` or `drain_once()`, not both at once).
Logs carry ids and counts only, never message bodies or item images.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from chalicelib import resources
from devstack.lambda_events import ACCOUNT_ID, LambdaContext, dynamodb_event, scheduled_event, sqs_event
from devstack.provision import client

log = logging.getLogger(__name__)


def _url_variable(queue: str) -> str:
    """The settings variable carrying a consumed queue's URL: the runner finds the queue through it.
    `Queue.env` is optional in general; a consumed queue always has one (tests/unit/test_wiring.py)."""
    var = resources.queue(queue).env
    if var is None:
        raise ValueError(f"queue {queue!r} has a consumer but no settings variable for its URL")
    return var


# Which handler each source feeds, from chalicelib.resources: settings variable of the queue's URL
# -> handler, logical table -> handler, and the scheduled handler.
DEFAULT_QUEUES = {_url_variable(name): handler for name, handler in resources.queue_consumers().items()}
DEFAULT_STREAMS = resources.stream_consumers()
DEFAULT_SCHEDULE = resources.SCHEDULE_CONSUMER


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

    def poll(self, wait_s: int) -> int:
        """Receive one batch, invoke the handler, delete what succeeded; returns messages delivered."""
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s,
            VisibilityTimeout=self.retry_visibility_s, AttributeNames=["All"],
            MessageAttributeNames=["All"]).get("Messages", [])
        if messages:
            self._deliver(messages)
        return len(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        context = LambdaContext(function_name=self.name, region=self.region)
        try:
            result = self.handler(sqs_event(messages, self.queue_arn, self.region), context)
        except Exception:
            # As in Lambda: the whole batch becomes visible again and is retried.
            log.exception("%s raised on a batch of %d message(s); all will be retried",
                          self.name, len(messages))
            return
        failed = failed_ids(result, {m["MessageId"] for m in messages}, self.name)
        done = [m for m in messages if m["MessageId"] not in failed]
        if failed:
            log.warning("%s reported %d of %d message(s) failed; they will be retried",
                        self.name, len(failed), len(messages))
        self._delete(done)

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        if not messages:
            return
        response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        for failure in response.get("Failed", []):
            log.error("could not delete a message from %s: %s", self.queue_url, failure.get("Code"))


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


@dataclass
class ShardCursor:
    shard_id: str
    parent_id: str | None
    iterator: str | None = None
    last_sequence: str | None = None
    finished: bool = False          # closed shard read to its end


class StreamSource:
    """A DynamoDB stream event source mapping: TRIM_HORIZON, batches of up to 100, bounded retries."""

    def __init__(self, dynamodb: Any, streams: Any, table_name: str, handler: Handler, name: str,
                 region: str, max_attempts: int = 3, retry_delay_s: float = 0.5,
                 describe_every_s: float = 1.0) -> None:
        self.streams, self.handler, self.name, self.region = streams, handler, name, region
        self.max_attempts, self.retry_delay_s = max_attempts, retry_delay_s
        self.describe_every_s = describe_every_s
        self.stream_arn = str(dynamodb.describe_table(TableName=table_name)["Table"]["LatestStreamArn"])
        self.cursors: dict[str, ShardCursor] = {}
        self._described_at = float("-inf")

    def poll(self, refresh_shards: bool = False) -> int:
        """Read every readable shard once; returns records delivered."""
        if refresh_shards or time.monotonic() - self._described_at >= self.describe_every_s:
            self._refresh_shards()
        return sum(self._read(cursor) for cursor in list(self.cursors.values())
                   if not cursor.finished and self._parent_done(cursor))

    def _refresh_shards(self) -> None:
        """New shards appear when DynamoDB rolls a shard over; start each at TRIM_HORIZON."""
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self.streams.describe_stream(**kwargs)["StreamDescription"]
            for shard in description["Shards"]:
                if shard["ShardId"] not in self.cursors:
                    self.cursors[shard["ShardId"]] = ShardCursor(shard["ShardId"],
                                                                 shard.get("ParentShardId"))
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
            cursor.iterator = None      # resume after the last record delivered, next pass
            return 0
        records = response.get("Records", [])
        if records:
            self._deliver(records)
            cursor.last_sequence = records[-1]["dynamodb"]["SequenceNumber"]
        cursor.iterator = response.get("NextShardIterator")
        cursor.finished = cursor.iterator is None
        return len(records)

    def _iterator(self, cursor: ShardCursor) -> str:
        kwargs: dict[str, Any] = {"StreamArn": self.stream_arn, "ShardId": cursor.shard_id,
                                  "ShardIteratorType": "TRIM_HORIZON"}
        if cursor.last_sequence:
            kwargs.update(ShardIteratorType="AFTER_SEQUENCE_NUMBER",
                          SequenceNumber=cursor.last_sequence)
        return str(self.streams.get_shard_iterator(**kwargs)["ShardIterator"])

    def _deliver(self, records: list[dict[str, Any]]) -> None:
        """Retry the same batch (the shard does not advance), then skip it loudly, as AWS would
        after MaximumRetryAttempts (sending it to the on-failure destination)."""
        event = dynamodb_event(records, self.stream_arn, self.region)
        for attempt in range(1, self.max_attempts + 1):
            try:
                self.handler(event, LambdaContext(function_name=self.name, region=self.region))
                return
            except Exception:
                log.exception("%s raised on %d stream record(s), attempt %d of %d",
                              self.name, len(records), attempt, self.max_attempts)
                if attempt < self.max_attempts:
                    time.sleep(self.retry_delay_s)
        log.error("SKIPPING %d stream record(s) after %d failed attempts (first sequence %s): "
                  "in AWS they would go to the on-failure destination",
                  len(records), self.max_attempts, records[0]["dynamodb"]["SequenceNumber"])


class ScheduleSource:
    """An EventBridge `rate(...)` rule targeting the handler."""

    def __init__(self, handler: Handler, name: str, region: str, rule_name: str) -> None:
        self.handler, self.name, self.region = handler, name, region
        self.rule_arn = f"arn:aws:events:{region}:{ACCOUNT_ID}:rule/{rule_name}"

    def fire(self) -> Any:
        try:
            return self.handler(scheduled_event(self.rule_arn, self.region),
                                LambdaContext(function_name=self.name, region=self.region))
        except Exception:
            log.exception("%s raised on a scheduled event", self.name)    # the next tick retries
            return None


# --- Runner --------------------------------------------------------------------------------------

class Runner:
    """Drive `app`'s event handlers from the local queue, stream and clock until stop()."""

    def __init__(self, app: Any, *, dynamodb_endpoint: str, aws_endpoint: str, region: str,
                 env: Mapping[str, str], tick_seconds: float = 60.0, poll_interval_s: float = 0.2,
                 queues: Mapping[str, str] = DEFAULT_QUEUES,
                 streams: Mapping[str, str] = DEFAULT_STREAMS,
                 schedule: str | None = DEFAULT_SCHEDULE, retry_visibility_s: int = 2) -> None:
        self.tick_seconds = tick_seconds
        self.poll_interval_s = poll_interval_s
        prefix = env["KOE_RESOURCE_PREFIX"]
        sqs = client("sqs", aws_endpoint, region)
        self.queue_sources = [
            QueueSource(sqs, env[var], getattr(app, handler), f"{prefix}{handler}", region,
                        retry_visibility_s)
            for var, handler in queues.items()]
        dynamodb = client("dynamodb", dynamodb_endpoint, region)
        dynamodb_streams = client("dynamodbstreams", dynamodb_endpoint, region)
        self.stream_sources = [
            StreamSource(dynamodb, dynamodb_streams, resources.physical(prefix, table),
                         getattr(app, handler), f"{prefix}{handler}", region)
            for table, handler in streams.items()]
        self.schedule_source = (ScheduleSource(getattr(app, schedule), f"{prefix}{schedule}",
                                               region, f"{prefix}{schedule}-schedule")
                                if schedule else None)
        self._last_tick = time.monotonic()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def drain_once(self) -> int:
        """One pass of each source in this thread (a tick only if one is due); returns the number
        of SQS messages plus stream records delivered."""
        delivered = sum(q.poll(wait_s=0) for q in self.queue_sources)
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
        loops: list[tuple[str, Callable[[], int]]] = [
            *((q.name, functools.partial(q.poll, wait_s=1)) for q in self.queue_sources),
            *((s.name, s.poll) for s in self.stream_sources)]
        for name, step in loops:
            self._spawn(name, functools.partial(self._poll_loop, step))
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

    def stop(self, timeout_s: float = 10.0) -> None:
        """Stop polling and wait for in-flight invocations (a long poll ends within ~1 s)."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=timeout_s)
            if thread.is_alive():
                log.warning("%s did not stop within %.0f s", thread.name, timeout_s)
        self._threads = []
