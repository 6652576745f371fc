"""The local stream source (devstack/runner.StreamSource) honours a partial batch failure as Lambda's
DynamoDB stream mapping does with ReportBatchItemFailures: the records before the lowest sequence
number reported are checkpointed (the saved position moves past them, and only past them), the retry
starts at that record and counts against the attempts, and once they are used up what is left is
bisected and its failing record sent to the on-failure destination. An exception or a Crash still
fails the whole invocation, from the last checkpoint.

DynamoDB Streams is a small fake here (one open shard, an iterator is a position), so each
invocation's records can be asserted exactly; tests/integration/test_devstack.py reads DynamoDB
Local's real stream."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from devstack.faults import Crash
from devstack.runner import StreamPositions, StreamSource, resume_at

STREAM_ARN = "arn:aws:dynamodb:ap-northeast-1:123456789012:table/koe-responses/stream/2026-11-18T03:00:00.000"
SHARD = "shardId-00000001763434800000-0000a1b2"
WRITTEN = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)     # when every record was written (its creation time)
ALWAYS = ["report"] * 20        # a record the function never gets done


def sequence(n: int) -> str:
    return f"{4200000000000000000 + n}"


def number(record: dict[str, Any]) -> int:
    return int(record["dynamodb"]["SequenceNumber"]) - 4200000000000000000


def stream_record(n: int) -> dict[str, Any]:
    """Record n as GetRecords returns it through boto3 (the creation time parsed into a datetime)."""
    key = {"survey_id": {"S": f"s-{n}"}, "question": {"S": "score"}}
    return {"eventID": f"event-{n}", "eventName": "INSERT", "dynamodb": {
        "ApproximateCreationDateTime": WRITTEN, "Keys": key, "NewImage": {**key, "score": {"N": "3"}},
        "SequenceNumber": sequence(n), "SizeBytes": 60, "StreamViewType": "NEW_IMAGE"}}


class FakeTable:
    def describe_table(self, TableName: str) -> dict[str, Any]:
        return {"Table": {"TableName": TableName, "LatestStreamArn": STREAM_ARN}}


@dataclass
class FakeStream:
    """One open shard, as StreamSource reads it: an iterator is the position of the next record."""

    records: list[dict[str, Any]]
    iterators: list[tuple[str, str | None]] = field(default_factory=list)    # each one asked for

    def describe_stream(self, StreamArn: str, **_: Any) -> dict[str, Any]:
        return {"StreamDescription": {"StreamArn": StreamArn, "Shards": [{"ShardId": SHARD}]}}

    def get_shard_iterator(self, StreamArn: str, ShardId: str, ShardIteratorType: str,
                           SequenceNumber: str | None = None) -> dict[str, Any]:
        self.iterators.append((ShardIteratorType, SequenceNumber))
        start = 0
        if ShardIteratorType == "AFTER_SEQUENCE_NUMBER":
            start = [r["dynamodb"]["SequenceNumber"] for r in self.records].index(SequenceNumber) + 1
        return {"ShardIterator": str(start)}

    def get_records(self, ShardIterator: str, Limit: int) -> dict[str, Any]:
        start = int(ShardIterator)
        batch = self.records[start:start + Limit]
        return {"Records": batch, "NextShardIterator": str(start + len(batch))}    # open: always a next one


@dataclass
class Function:
    """The stream's function: does its records in order; at a record listed in `failing` it stops,
    the first time by that record's first outcome, the next time by its second...: "report" (a batch
    item failure naming it), "raise" (an exception), "crash" (the process killed: devstack.faults.Crash)."""

    failing: dict[int, list[str]] = field(default_factory=dict)
    invocations: list[list[int]] = field(default_factory=list)
    done: list[int] = field(default_factory=list)
    positions_seen: list[str | None] = field(default_factory=list)    # the saved position at each invocation
    positions: StreamPositions | None = None

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        numbers = [number(r) for r in event["Records"]]
        self.invocations.append(numbers)
        if self.positions:
            self.positions_seen.append(self.positions.saved(STREAM_ARN, SHARD).get("last_sequence"))
        for n in numbers:
            outcomes = self.failing.get(n)
            if outcomes:
                how = outcomes.pop(0)
                if how == "raise":
                    raise RuntimeError(f"record {n} failed")
                if how == "crash":
                    raise Crash("dynamodb", "on_response")
                return {"batchItemFailures": [{"itemIdentifier": sequence(n)}]}
            self.done.append(n)
        return {"batchItemFailures": []}


@dataclass
class Stream:
    source: StreamSource
    stream: FakeStream
    function: Function
    positions: StreamPositions
    dead_letters: list[dict[str, Any]]

    def saved(self) -> str | None:
        return self.positions.saved(STREAM_ARN, SHARD).get("last_sequence")


def a_stream(tmp_path: Path, records: int, function: Function) -> Stream:
    stream, positions, dead_letters = FakeStream([stream_record(n) for n in range(records)]), \
        StreamPositions(tmp_path / "positions.json"), []
    function.positions = positions
    source = StreamSource(FakeTable(), stream, "koe-responses", function, "koe-on_response", "ap-northeast-1",
                          max_attempts=3, retry_delay_s=0, positions=positions, on_failure=dead_letters.append)
    return Stream(source, stream, function, positions, dead_letters)


def test_a_partial_failure_checkpoints_before_the_record_and_the_retry_starts_there(tmp_path: Path) -> None:
    # Given five records, the function failing once at the third
    s = a_stream(tmp_path, 5, Function(failing={2: ["report"]}))
    # When the source reads the shard
    assert s.source.poll(refresh_shards=True) == 5
    # Then the retry held the records from the third on, after the first two were checkpointed
    assert s.function.invocations == [[0, 1, 2, 3, 4], [2, 3, 4]]
    assert s.function.positions_seen == [None, sequence(1)]
    # And every record was done once, the position is past the last, nothing went to the destination
    assert s.function.done == [0, 1, 2, 3, 4]
    assert s.saved() == sequence(4) and s.dead_letters == []
    assert s.source.poll(refresh_shards=True) == 0 and len(s.function.invocations) == 2


def test_retries_from_checkpoints_count_as_attempts_then_what_is_left_is_bisected(tmp_path: Path) -> None:
    # Given six records: the function fails once at the second, once at the third, and never gets the fifth done
    s = a_stream(tmp_path, 6, Function(failing={1: ["report"], 2: ["report"], 4: list(ALWAYS)}))
    # When the source reads the shard
    s.source.poll(refresh_shards=True)
    # Then three attempts, each resuming where the last stopped; then the rest ([4, 5]) bisected
    assert s.function.invocations == [[0, 1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [2, 3, 4, 5],
                                      [4], [4], [4], [5]]
    assert s.function.positions_seen[:4] == [None, sequence(0), sequence(1), sequence(3)]
    # And only the fifth record reached the on-failure destination, as its batch info
    [info] = s.dead_letters
    assert info["DDBStreamBatchInfo"] == {"shardId": SHARD, "startSequenceNumber": sequence(4),
                                          "endSequenceNumber": sequence(4), "batchSize": 1, "streamArn": STREAM_ARN}
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert s.function.done == [0, 1, 2, 3, 5] and s.saved() == sequence(5)


@pytest.mark.parametrize("how", ["raise", "crash"])
def test_an_exception_or_a_crash_retries_everything_since_the_last_checkpoint(tmp_path: Path, how: str) -> None:
    # Given a function that reports the third record failed, then fails on the fourth as a whole
    s = a_stream(tmp_path, 5, Function(failing={2: ["report"], 3: [how]}))
    # When the source reads the shard
    s.source.poll(refresh_shards=True)
    # Then the invocation that failed as a whole was retried from the checkpoint, not from the fourth record
    assert s.function.invocations == [[0, 1, 2, 3, 4], [2, 3, 4], [2, 3, 4]]
    assert s.function.positions_seen == [None, sequence(1), sequence(1)]
    assert s.saved() == sequence(4) and s.dead_letters == []


def test_a_batch_that_raises_every_time_is_bisected_as_before(tmp_path: Path) -> None:
    s = a_stream(tmp_path, 2, Function(failing={1: ["raise"] * 6}))
    s.source.poll(refresh_shards=True)
    assert s.function.invocations == [[0, 1], [0, 1], [0, 1], [0], [1], [1], [1]]
    assert [d["DDBStreamBatchInfo"]["startSequenceNumber"] for d in s.dead_letters] == [sequence(1)]
    assert s.saved() == sequence(1)


def test_an_item_failure_naming_no_record_of_the_batch_fails_the_whole_invocation(tmp_path: Path) -> None:
    answers = iter([{"batchItemFailures": [{"itemIdentifier": "1"}]}, None])
    invocations: list[list[int]] = []

    def function(event: dict[str, Any], context: Any) -> Any:
        invocations.append([number(r) for r in event["Records"]])
        return next(answers)

    s = a_stream(tmp_path, 3, Function())
    s.source.handler = function
    s.source.poll(refresh_shards=True)
    assert invocations == [[0, 1, 2], [0, 1, 2]]
    assert s.saved() == sequence(2)


def test_a_refusing_on_failure_destination_leaves_the_position_at_the_last_record_done(tmp_path: Path) -> None:
    # Given a function that never gets the third of four records done, and a destination that refuses
    s = a_stream(tmp_path, 4, Function(failing={2: list(ALWAYS)}))

    def refusing(info: dict[str, Any]) -> None:
        raise ConnectionError("the stream's DLQ is unreachable")

    s.source.on_failure = refusing
    # When the source reads the shard, and its last attempt cannot hand the third record over
    with pytest.raises(ConnectionError):
        s.source.poll(refresh_shards=True)
    # Then the position is past the two records done, and no further
    assert s.saved() == sequence(1)
    # And once the destination takes it, the next pass reads on from there, not from the batch's start
    s.function.failing = {}
    s.source.on_failure = s.dead_letters.append
    s.function.invocations.clear()
    s.source.poll(refresh_shards=True)
    assert s.stream.iterators[-1] == ("AFTER_SEQUENCE_NUMBER", sequence(1))
    assert s.function.invocations == [[2, 3]] and s.saved() == sequence(3)


@pytest.mark.parametrize("result, resume", [
    (None, None), ({}, None), ({"batchItemFailures": []}, None), ({"batchItemFailures": None}, None),
    ({"batchItemFailures": [{"itemIdentifier": sequence(2)}]}, 2),
    ({"batchItemFailures": [{"itemIdentifier": sequence(3)}, {"itemIdentifier": sequence(1)}]}, 1),  # the lowest
    ({"batchItemFailures": [{"itemIdentifier": ""}]}, 0), ({"batchItemFailures": [{"itemIdentifier": None}]}, 0),
    ({"batchItemFailures": [{"id": sequence(1)}]}, 0), ({"batchItemFailures": [{"itemIdentifier": "7"}]}, 0),
    ({"batchItemFailures": sequence(1)}, 0),
])
def test_where_a_batch_resumes_is_read_from_the_response_as_lambda_reads_it(result: Any, resume: int | None) -> None:
    assert resume_at(result, [sequence(n) for n in range(4)], "koe-on_response") == resume


def test_the_source_is_caught_up_only_once_a_poll_found_nothing_new(tmp_path: Path) -> None:
    """What the fault run waits for before counting cases: the stream read to its end, its retries done."""
    s = a_stream(tmp_path, 3, Function(failing={1: ["report"]}))
    assert s.source.caught_up                       # nothing read yet, nothing under way
    seen_during: list[bool] = []
    real = s.source.handler
    s.source.handler = lambda event, context: (seen_during.append(s.source.caught_up), real(event, context))[1]
    assert s.source.poll(refresh_shards=True) == 3
    assert seen_during and not any(seen_during)     # not caught up while a batch is in its retries
    assert not s.source.caught_up                   # the last poll delivered records: there may be more
    assert s.source.poll(refresh_shards=True) == 0
    assert s.source.caught_up
