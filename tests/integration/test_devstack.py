"""The local stack's plumbing: provisioning from `chalicelib.resources`, moto's EventBridge and SNS
deliveries, and the Runner feeding queue, stream and schedule events to Chalice handlers in AWS's
shapes. Uses a small Chalice app defined here with the same decorators as koe's app.py.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from chalice import Chalice

from chalicelib import resources
from devstack.provision import client, provision
from devstack.runner import QueueDepth, Runner, failed_ids
from tests import clock

REPO_ROOT = Path(__file__).resolve().parents[2]
# The recorded EventBridge -> SQS envelope.
EVENTBRIDGE_SAMPLE = REPO_ROOT / "tests" / "events" / "eventbridge-to-sqs.json"


# --- A stand-in app with koe's three event handlers ----------------------------------------------

class Recorder:
    """What the handlers received: raw events, Chalice's parsed view, and the contexts."""

    def __init__(self) -> None:
        self.sqs: list[dict[str, Any]] = []
        self.stream: list[dict[str, Any]] = []
        self.stream_names: list[str] = []
        self.ticks: list[dict[str, Any]] = []
        self.sns: list[dict[str, Any]] = []
        self.sns_messages: list[str] = []
        self.alert_batches: list[dict[str, Any]] = []
        self.contexts: list[Any] = []
        self.stream_failures_left = 0
        self.sns_failures_left = 0


seen = Recorder()
stand_in = Chalice(app_name="devstack-test")


@stand_in.on_sqs_message(queue="x")
def dispatch(event: Any) -> dict[str, Any]:
    seen.sqs.append(event.to_dict())
    seen.contexts.append(event.context)
    # Messages whose body asks to fail are reported as partial batch failures.
    failures = [{"itemIdentifier": r["messageId"]} for r in event.to_dict()["Records"]
                if json.loads(r["body"]).get("fail")]
    return {"batchItemFailures": failures}


@stand_in.on_dynamodb_record(stream_arn="arn:aws:dynamodb:us-east-1:123456789012:table/x/stream/2020")
def on_response(event: Any) -> None:
    seen.stream.append(event.to_dict())
    seen.stream_names.extend(record.event_name for record in event)    # Chalice parses each record
    if seen.stream_failures_left:
        seen.stream_failures_left -= 1
        raise RuntimeError("simulated handler failure")


@stand_in.schedule("rate(1 minute)")
def tick(event: Any) -> str:
    seen.ticks.append(event.to_dict())
    assert event.detail_type == "Scheduled Event"       # Chalice's CloudWatchEvent parsed it
    return "ticked"


@stand_in.on_sns_message(topic="ses-events")
def on_ses_event(event: Any) -> None:
    seen.sns.append(event.to_dict())
    seen.sns_messages.append(event.message)                 # Chalice's SNSEvent parsed it
    if seen.sns_failures_left:
        seen.sns_failures_left -= 1
        raise RuntimeError("simulated handler failure")


@stand_in.on_sqs_message(queue="y")
def deliver_alerts(event: Any) -> dict[str, Any]:
    seen.alert_batches.append(event.to_dict())
    return {"batchItemFailures": []}


@stand_in.on_sqs_message(queue="z")
def analyse_comments(event: Any) -> dict[str, Any]:
    return {"batchItemFailures": []}


class TestApp:
    """The module-level handler objects, as `app` exposes them to the Runner."""
    dispatch = dispatch
    deliver_alerts = deliver_alerts
    analyse_comments = analyse_comments
    on_ses_event = on_ses_event
    on_response = on_response
    tick = tick


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    global seen
    seen = Recorder()
    yield seen


@pytest.fixture
def runner(fresh_aws: dict[str, str], dynamodb_local: Any, moto_server: Any,
           recorder: Recorder) -> Iterator[Runner]:
    r = Runner(TestApp, dynamodb_endpoint=dynamodb_local.endpoint, aws_endpoint=moto_server.endpoint,
               region=fresh_aws["AWS_REGION"], env=fresh_aws, tick_seconds=3600,
               poll_interval_s=0.05, retry_visibility_s=1)
    yield r
    r.stop()


def until(condition: Callable[[], Any], timeout_s: float = 10.0, step: Callable[[], Any] | None = None,
          ) -> Any:
    """Poll (optionally running `step` first) until condition() is truthy; fail on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if step:
            step()
        if value := condition():
            return value
        time.sleep(0.05)
    pytest.fail(f"condition not met within {timeout_s} s")


# --- Provisioning ---------------------------------------------------------------------------------

def test_provisioning_creates_every_table_as_declared(local_aws: dict[str, str], dynamodb_local: Any):
    # Given the session's provisioned resources
    dynamodb = client("dynamodb", dynamodb_local.endpoint, local_aws["AWS_REGION"])
    prefix = local_aws["KOE_RESOURCE_PREFIX"]
    for table in resources.TABLES:
        # When describing each declared table
        described = dynamodb.describe_table(TableName=resources.physical(prefix, table.name))["Table"]
        ttl = dynamodb.describe_time_to_live(
            TableName=resources.physical(prefix, table.name))["TimeToLiveDescription"]
        # Then keys, attribute types, indexes, stream and TTL match the definition
        assert described["KeySchema"] == key_schema(table.hash_key, table.range_key), table.name
        assert {a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]} \
            == table.attributes
        assert described["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        indexes = {i["IndexName"]: i for i in described.get("GlobalSecondaryIndexes", [])}
        assert set(indexes) == {i.name for i in table.indexes}
        for index in table.indexes:
            assert indexes[index.name]["KeySchema"] == key_schema(index.hash_key, index.range_key)
            assert indexes[index.name]["Projection"]["ProjectionType"] == "ALL"
        stream = described.get("StreamSpecification", {})
        assert (stream.get("StreamViewType") if stream.get("StreamEnabled") else None) == table.stream
        if table.ttl_attribute:
            assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": table.ttl_attribute}
        else:
            assert ttl["TimeToLiveStatus"] == "DISABLED"


def key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    return [{"AttributeName": hash_key, "KeyType": "HASH"}] + (
        [{"AttributeName": range_key, "KeyType": "RANGE"}] if range_key else [])


def test_provisioning_creates_queues_with_redrive_topics_bus_and_rule(local_aws: dict[str, str],
                                                                     moto_server: Any):
    # Given the session's provisioned resources
    region, prefix = local_aws["AWS_REGION"], local_aws["KOE_RESOURCE_PREFIX"]
    sqs = client("sqs", moto_server.endpoint, region)
    for queue in resources.QUEUES:
        # When reading each declared queue's attributes
        url = sqs.get_queue_url(QueueName=resources.physical(prefix, queue.name))["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
        # Then the visibility timeout and the redrive policy are as declared
        assert attributes["VisibilityTimeout"] == str(queue.visibility_timeout_s)
        if queue.dead_letter:
            redrive = json.loads(attributes["RedrivePolicy"])
            assert redrive["deadLetterTargetArn"].endswith(f":{prefix}{queue.dead_letter}")
            assert int(redrive["maxReceiveCount"]) == queue.max_receive_count
        else:
            assert "RedrivePolicy" not in attributes
    topics = [t["TopicArn"] for t in client("sns", moto_server.endpoint, region).list_topics()["Topics"]]
    assert {f"{prefix}{topic.name}" for topic in resources.TOPICS} <= {arn.rsplit(":", 1)[1] for arn in topics}
    events = client("events", moto_server.endpoint, region)
    bus = local_aws["KOE_LOCAL_EVENT_BUS"]
    assert bus == resources.physical(prefix, resources.EVENT_BUS)
    for rule in resources.RULES:
        described = events.describe_rule(Name=f"{prefix}{rule.name}", EventBusName=bus)
        assert json.loads(described["EventPattern"]) == {"detail-type": [rule.detail_type]}
        targets = events.list_targets_by_rule(Rule=f"{prefix}{rule.name}", EventBusName=bus)["Targets"]
        assert [t["Arn"].rsplit(":", 1)[1] for t in targets] == [f"{prefix}{rule.target_queue}"]


def test_provisioning_twice_is_harmless_and_returns_the_settings(local_aws: dict[str, str],
                                                                  dynamodb_local: Any, moto_server: Any):
    # Given resources that already exist
    # When provisioning again with the same prefix
    again = provision(dynamodb_local.endpoint, moto_server.endpoint, local_aws["AWS_REGION"],
                      local_aws["KOE_RESOURCE_PREFIX"])
    # Then nothing fails, the addresses are the same, and the app's settings accept them
    assert again == local_aws
    from chalicelib.settings import from_env
    settings = from_env({**again, "KOE_PUBLIC_BASE_URL": "http://127.0.0.1:8000"})
    assert settings.intake_queue_url == again["KOE_INTAKE_QUEUE_URL"]
    assert settings.contact_keys_secret_id == again["KOE_CONTACT_KEYS_SECRET_ID"]
    assert settings.resource_prefix == again["KOE_RESOURCE_PREFIX"]


# --- moto deliveries ------------------------------------------------------------------------------

def test_eventbridge_procedure_completed_lands_in_the_intake_queue(local_aws: dict[str, str],
                                                                   moto_server: Any):
    # Given the recorded ProcedureCompleted event
    sample = json.loads(EVENTBRIDGE_SAMPLE.read_text())
    region = local_aws["AWS_REGION"]
    # When the insurer puts it on the koe bus
    put = client("events", moto_server.endpoint, region).put_events(Entries=[{
        "EventBusName": local_aws["KOE_LOCAL_EVENT_BUS"], "Source": sample["source"],
        "DetailType": sample["detail-type"], "Detail": json.dumps(sample["detail"])}])
    assert put["FailedEntryCount"] == 0
    # Then the intake queue holds the EventBridge envelope with the detail unchanged
    sqs = client("sqs", moto_server.endpoint, region)
    messages = sqs.receive_message(QueueUrl=local_aws["KOE_INTAKE_QUEUE_URL"],
                                   WaitTimeSeconds=2).get("Messages", [])
    assert len(messages) == 1
    envelope = json.loads(messages[0]["Body"])
    # moto leaves out "account" (AWS sends it): the app must not rely on it.
    assert set(sample) - {"account"} <= set(envelope)
    assert envelope["detail-type"] == "ProcedureCompleted"
    assert envelope["source"] == sample["source"]
    assert envelope["detail"] == sample["detail"]
    sqs.delete_message(QueueUrl=local_aws["KOE_INTAKE_QUEUE_URL"],
                       ReceiptHandle=messages[0]["ReceiptHandle"])


def test_other_detail_types_are_not_routed_to_intake(local_aws: dict[str, str], moto_server: Any):
    # Given the rule matches ProcedureCompleted only
    region = local_aws["AWS_REGION"]
    # When another detail-type is put on the bus
    client("events", moto_server.endpoint, region).put_events(Entries=[{
        "EventBusName": local_aws["KOE_LOCAL_EVENT_BUS"], "Source": "insurer.claims",
        "DetailType": "SomethingElse", "Detail": "{}"}])
    # Then the intake queue stays empty
    sqs = client("sqs", moto_server.endpoint, region)
    assert not sqs.receive_message(QueueUrl=local_aws["KOE_INTAKE_QUEUE_URL"],
                                   WaitTimeSeconds=1).get("Messages")


def test_cx_alert_published_to_the_topic_reaches_the_inspect_queue(local_aws: dict[str, str],
                                                                    moto_server: Any):
    # Given the local inspect queue subscribed with raw delivery
    region = local_aws["AWS_REGION"]
    alert = {"case_id": "case-1", "score": 2}
    # When an alert is published to the CX topic
    client("sns", moto_server.endpoint, region).publish(
        TopicArn=local_aws["KOE_CX_TOPIC_ARN"], Message=json.dumps(alert), Subject="koe alert")
    # Then the inspect queue receives the message itself, not an SNS envelope
    messages = client("sqs", moto_server.endpoint, region).receive_message(
        QueueUrl=local_aws["KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL"], WaitTimeSeconds=2)["Messages"]
    assert [json.loads(m["Body"]) for m in messages] == [alert]


# --- Runner: SQS ----------------------------------------------------------------------------------

def send(env: dict[str, str], endpoint: str, body: dict[str, Any], **kwargs: Any) -> str:
    sqs = client("sqs", endpoint, env["AWS_REGION"])
    return str(sqs.send_message(QueueUrl=env["KOE_INTAKE_QUEUE_URL"], MessageBody=json.dumps(body),
                                **kwargs)["MessageId"])


def test_runner_delivers_an_sqs_batch_in_lambda_shape(runner: Runner, fresh_aws: dict[str, str],
                                                      moto_server: Any, recorder: Recorder):
    # Given a message with a string and a binary attribute in the intake queue
    message_id = send(fresh_aws, moto_server.endpoint, {"n": 1}, MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "test"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    # When the runner makes one pass
    delivered = runner.drain_once()
    # Then dispatch got the record exactly as Lambda shapes it
    assert delivered == 1
    (record,) = recorder.sqs[0]["Records"]
    assert set(record) == {"messageId", "receiptHandle", "body", "attributes", "messageAttributes",
                           "md5OfBody", "md5OfMessageAttributes", "eventSource", "eventSourceARN",
                           "awsRegion"}
    assert record["messageId"] == message_id
    assert json.loads(record["body"]) == {"n": 1}
    assert set(record["attributes"]) == {"ApproximateReceiveCount", "SentTimestamp", "SenderId",
                                         "ApproximateFirstReceiveTimestamp"}
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"] == {
        "kind": {"stringValue": "test", "stringListValues": [], "binaryListValues": [],
                 "dataType": "String"},
        "blob": {"binaryValue": "AAE=", "stringListValues": [], "binaryListValues": [],
                 "dataType": "Binary"}}
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(f":{fresh_aws['KOE_RESOURCE_PREFIX']}intake")
    assert record["awsRegion"] == fresh_aws["AWS_REGION"]
    # And the context is a Lambda context Powertools can use
    context = recorder.contexts[0]
    assert context.get_remaining_time_in_millis() > 0
    assert context.invoked_function_arn.endswith(f":function:{context.function_name}")
    # And the message was deleted
    assert runner.drain_once() == 0


def test_runner_redelivers_only_the_reported_failures(runner: Runner, fresh_aws: dict[str, str],
                                                      moto_server: Any, recorder: Recorder):
    # Given three messages, one of which the handler reports as failed
    ok_ids = {send(fresh_aws, moto_server.endpoint, {"n": n}) for n in (1, 2)}
    failing = send(fresh_aws, moto_server.endpoint, {"fail": True})
    # When the runner makes a pass
    assert runner.drain_once() == 3
    # Then after the retry visibility only the failed message comes back, received a second time
    until(lambda: len(recorder.sqs) > 1, step=runner.drain_once)
    redelivered = recorder.sqs[1]["Records"]
    assert [r["messageId"] for r in redelivered] == [failing]
    assert redelivered[0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert not ok_ids & {r["messageId"] for e in recorder.sqs[1:] for r in e["Records"]}
    assert len({c.aws_request_id for c in recorder.contexts}) == len(recorder.contexts)


def test_runner_retries_the_whole_batch_when_the_handler_raises(
        runner: Runner, fresh_aws: dict[str, str], moto_server: Any, recorder: Recorder):
    # Given a handler that raises on its first call
    calls: list[int] = []

    def flaky(event: dict[str, Any], context: Any) -> None:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise RuntimeError("simulated crash")

    runner.queue_sources[0].handler = flaky
    send(fresh_aws, moto_server.endpoint, {"n": 1})
    # When the runner passes until the message is handled
    runner.drain_once()
    until(lambda: len(calls) >= 2, step=runner.drain_once)
    # Then the message came back and, once handled, is gone
    assert calls == [1, 1]
    assert runner.drain_once() == 0


def test_a_message_never_comes_back_while_its_invocation_still_runs(
        runner: Runner, fresh_aws: dict[str, str], moto_server: Any) -> None:
    # Given an invocation that takes longer than the runner's 2 s retry visibility (as dispatch can,
    # waiting on a throttled table) and then reports its message failed
    import threading

    source = runner.queue_sources[0]
    seen: list[str] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(r["messageId"] for r in event["Records"])
        time.sleep(source.retry_visibility_s + 1.5)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    source.handler = slow
    message = send(fresh_aws, moto_server.endpoint, {"n": 1})
    # When one poller is inside it and another polls meanwhile
    first = threading.Thread(target=source.poll, kwargs={"wait_s": 1})
    first.start()
    until(lambda: seen == [message])
    time.sleep(source.retry_visibility_s + 0.5)
    assert source.poll(wait_s=0) == 0       # received with the queue's visibility: still hidden
    first.join()
    # Then once the invocation failed it, the message comes back after the retry visibility
    until(lambda: source.poll(wait_s=0) == 1, timeout_s=10)
    assert seen == [message, message]


def test_a_visibility_the_function_set_itself_is_left_as_it_set_it(
        runner: Runner, fresh_aws: dict[str, str], moto_server: Any) -> None:
    # Given a function that backs its failed message off by 30 s itself (as deliver_alerts does)
    source = runner.queue_sources[0]
    sqs = source.sqs

    def backs_off(event: dict[str, Any], context: Any) -> dict[str, Any]:
        for record in event["Records"]:
            sqs.change_message_visibility(QueueUrl=source.queue_url, ReceiptHandle=record["receiptHandle"],
                                          VisibilityTimeout=30)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]]}

    source.handler = backs_off
    send(fresh_aws, moto_server.endpoint, {"n": 1})
    assert source.poll(wait_s=1) == 1
    # Then the runner does not make it visible again after its own 2 s
    time.sleep(source.retry_visibility_s + 1)
    assert source.poll(wait_s=0) == 0
    assert source.depth().in_flight == 1


def test_an_invalid_partial_batch_response_fails_the_whole_batch():
    # Given a batch of two messages
    batch = {"m-1", "m-2"}
    # When the handler reports an id that is not in the batch, or a malformed item
    unknown = failed_ids({"batchItemFailures": [{"itemIdentifier": "other"}]}, batch, "dispatch")
    malformed = failed_ids({"batchItemFailures": [{}]}, batch, "dispatch")
    # Then, as in Lambda, every message is retried; a valid report fails only what it names
    assert unknown == malformed == batch
    assert failed_ids({"batchItemFailures": [{"itemIdentifier": "m-2"}]}, batch, "dispatch") == {"m-2"}
    assert failed_ids(None, batch, "dispatch") == set()


# --- Runner: DynamoDB stream and schedule --------------------------------------------------------

def put_response(env: dict[str, str], endpoint: str, survey_id: str) -> None:
    client("dynamodb", endpoint, env["AWS_REGION"]).put_item(
        TableName=resources.physical(env["KOE_RESOURCE_PREFIX"], "responses"),
        Item={"survey_id": {"S": survey_id}, "question": {"S": "q1"}, "score": {"N": "9"},
              "raw": {"B": b"\x01"}, "tags": {"L": [{"S": "a"}]}})


def test_runner_delivers_stream_inserts_in_lambda_shape(runner: Runner, fresh_aws: dict[str, str],
                                                        dynamodb_local: Any, recorder: Recorder):
    # Given an answer written to the responses table
    put_response(fresh_aws, dynamodb_local.endpoint, "s-1")
    # When the runner makes a pass
    assert runner.drain_once() == 1
    # Then on_response got an INSERT with the new image in raw DynamoDB JSON
    (record,) = recorder.stream[0]["Records"]
    assert record["eventName"] == "INSERT" and recorder.stream_names == ["INSERT"]
    assert record["eventVersion"] == "1.1"
    assert record["eventSource"] == "aws:dynamodb"
    assert record["awsRegion"] == fresh_aws["AWS_REGION"]
    assert record["eventSourceARN"] == runner.stream_sources[0].stream_arn
    assert f"table/{fresh_aws['KOE_RESOURCE_PREFIX']}responses/stream/" in record["eventSourceARN"]
    data = record["dynamodb"]
    assert isinstance(data["ApproximateCreationDateTime"], int)
    assert abs(data["ApproximateCreationDateTime"] - time.time()) < 120
    assert data["Keys"] == {"survey_id": {"S": "s-1"}, "question": {"S": "q1"}}
    assert data["NewImage"] == {"survey_id": {"S": "s-1"}, "question": {"S": "q1"},
                                "score": {"N": "9"}, "raw": {"B": "AQ=="}, "tags": {"L": [{"S": "a"}]}}
    assert "OldImage" not in data       # the table's stream is NEW_IMAGE
    assert data["StreamViewType"] == "NEW_IMAGE"
    assert data["SequenceNumber"] and data["SizeBytes"] > 0
    # And the stream does not deliver it again
    assert runner.drain_once() == 0


def test_runner_retries_a_failed_stream_batch_without_advancing(
        runner: Runner, fresh_aws: dict[str, str], dynamodb_local: Any, recorder: Recorder):
    # Given a handler that fails once
    recorder.stream_failures_left = 1
    runner.stream_sources[0].retry_delay_s = 0.01
    put_response(fresh_aws, dynamodb_local.endpoint, "s-2")
    # When the runner makes a pass
    runner.drain_once()
    # Then the same record was delivered twice, and then the shard moved on; a batch gets as many
    # attempts as infra/ gives the event source mapping (1 + MaximumRetryAttempts)
    assert runner.stream_sources[0].max_attempts == 1 + resources.STREAM_MAX_RETRIES
    assert [e["Records"][0]["dynamodb"]["SequenceNumber"] for e in recorder.stream] == \
        [recorder.stream[0]["Records"][0]["dynamodb"]["SequenceNumber"]] * 2
    assert runner.drain_once() == 0


def test_a_stream_batch_that_keeps_failing_is_bisected_and_its_failing_record_sent_to_the_stream_dlq(
        runner: Runner, fresh_aws: dict[str, str], dynamodb_local: Any, moto_server: Any) -> None:
    # Given two answers on the stream, the second of which the handler can never take
    delivered: list[str] = []

    def picky(event: dict[str, Any], context: Any) -> None:
        ids = [r["dynamodb"]["Keys"]["survey_id"]["S"] for r in event["Records"]]
        if "s-bad" in ids:
            raise RuntimeError("simulated handler failure")
        delivered.extend(ids)

    source = runner.stream_sources[0]
    source.handler, source.retry_delay_s = picky, 0.0
    put_response(fresh_aws, dynamodb_local.endpoint, "s-good")
    put_response(fresh_aws, dynamodb_local.endpoint, "s-bad")
    # When the runner passes until both were read
    until(lambda: runner.drain_once() == 0 and delivered)
    # Then the good record was handled, and the bad one's batch info is on the stream's DLQ (no record)
    assert delivered == ["s-good"]
    sqs = client("sqs", moto_server.endpoint, fresh_aws["AWS_REGION"])
    url = sqs.get_queue_url(QueueName=resources.physical(fresh_aws["KOE_RESOURCE_PREFIX"],
                                                         "responses-stream-dlq"))["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)["Messages"]
    info = json.loads(message["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert info["DDBStreamBatchInfo"]["batchSize"] == 1
    assert info["DDBStreamBatchInfo"]["streamArn"] == source.stream_arn
    assert "s-bad" not in message["Body"]


def test_a_function_killed_mid_batch_gets_its_batch_again(
        runner: Runner, fresh_aws: dict[str, str], moto_server: Any) -> None:
    """A crash (devstack/faults.Crash) is not an exception a handler can catch: the runner does what
    Lambda does when the process dies, and the batch comes back."""
    from devstack.faults import Crash

    calls: list[int] = []

    def dies_once(event: dict[str, Any], context: Any) -> None:
        calls.append(len(event["Records"]))
        if len(calls) == 1:
            raise Crash("dynamodb", "dispatch")

    runner.queue_sources[0].handler = dies_once
    send(fresh_aws, moto_server.endpoint, {"n": 1})
    runner.drain_once()
    until(lambda: len(calls) >= 2, step=runner.drain_once)
    assert calls == [1, 1]
    assert runner.drain_once() == 0


def test_runner_ticks_with_the_scheduled_event_shape(runner: Runner, fresh_aws: dict[str, str],
                                                     recorder: Recorder):
    # When the runner ticks
    assert runner.tick_once() == "ticked"
    # Then tick got EventBridge's scheduled event
    event = recorder.ticks[0]
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.events"
    assert event["detail"] == {}
    assert event["region"] == fresh_aws["AWS_REGION"]
    assert event["resources"][0].startswith(f"arn:aws:events:{fresh_aws['AWS_REGION']}:")
    assert time.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")


def _publish_to_ses_events(env: dict[str, str], moto_server: Any, message: str) -> None:
    sns = client("sns", moto_server.endpoint, env["AWS_REGION"])
    sns.publish(TopicArn=env[resources.topic(resources.EMAIL.events_topic).env or ""], Message=message)


def test_provisioning_subscribes_a_queue_to_each_consumed_topic_and_sets_up_ses(fresh_aws: dict[str, str],
                                                                               moto_server: Any):
    region = fresh_aws["AWS_REGION"]
    prefix = fresh_aws["KOE_RESOURCE_PREFIX"]
    name = resources.physical(prefix, resources.EMAIL.name)
    assert fresh_aws[resources.EMAIL.env] == name and fresh_aws["KOE_EMAIL_FROM"] == "survey@example.jp"
    sesv2 = client("sesv2", moto_server.endpoint, region)
    assert sesv2.get_configuration_set(ConfigurationSetName=name)["ConfigurationSetName"] == name
    # moto sends from any identity it holds (whatever its verification status says); SES from a verified one
    assert sesv2.get_email_identity(EmailIdentity="example.jp")["IdentityType"] == "DOMAIN"
    described = client("ses", moto_server.endpoint, region).describe_configuration_set(
        ConfigurationSetName=name, ConfigurationSetAttributeNames=["eventDestinations"])
    (destination,) = described["EventDestinations"]
    assert destination["SNSDestination"]["TopicARN"] == fresh_aws[
        resources.topic(resources.EMAIL.events_topic).env or ""]
    assert sorted(destination["MatchingEventTypes"]) == sorted(resources.EMAIL.events)
    topics = client("sns", moto_server.endpoint, region)
    for topic in resources.topic_consumers():
        endpoints = [s["Endpoint"] for s in topics.list_subscriptions_by_topic(
            TopicArn=fresh_aws[resources.topic(topic).env or ""])["Subscriptions"]]
        assert [e for e in endpoints if e.endswith(f"{prefix}{topic}-subscription")]


def test_runner_delivers_a_topic_message_in_the_sns_lambda_shape(runner: Runner, fresh_aws: dict[str, str],
                                                                 moto_server: Any, recorder: Recorder):
    # When SES (or the carrier standing in for it) publishes to the events topic
    _publish_to_ses_events(fresh_aws, moto_server, '{"eventType": "Delivery"}')
    until(lambda: recorder.sns, step=runner.drain_once)
    # Then the subscribed handler got one SNS record, as Lambda passes it
    (event,) = recorder.sns
    (record,) = event["Records"]
    assert (record["EventSource"], record["EventVersion"]) == ("aws:sns", "1.0")
    assert record["Sns"]["TopicArn"] == fresh_aws[resources.topic(resources.EMAIL.events_topic).env or ""]
    assert record["Sns"]["Type"] == "Notification" and record["Sns"]["MessageId"]
    assert record["EventSubscriptionArn"].startswith(record["Sns"]["TopicArn"])
    assert recorder.sns_messages == ['{"eventType": "Delivery"}']


def test_runner_retries_a_failing_topic_handler_twice_then_drops_the_message(
        runner: Runner, fresh_aws: dict[str, str], moto_server: Any, recorder: Recorder):
    recorder.sns_failures_left = 5
    _publish_to_ses_events(fresh_aws, moto_server, "again and again")
    until(lambda: len(recorder.sns) >= 3, step=runner.drain_once)
    time.sleep(1.5)
    runner.drain_once()
    assert len(recorder.sns) == 3           # Lambda's asynchronous invocation: 1 + 2 retries


def test_started_runner_delivers_in_the_background_until_stopped(
        fresh_aws: dict[str, str], dynamodb_local: Any, moto_server: Any, recorder: Recorder):
    # Given a started runner ticking every 0.2 s
    runner = Runner(TestApp, dynamodb_endpoint=dynamodb_local.endpoint,
                    aws_endpoint=moto_server.endpoint, region=fresh_aws["AWS_REGION"],
                    env=fresh_aws, tick_seconds=0.2, poll_interval_s=0.05).start()
    try:
        # When a message and an item arrive
        send(fresh_aws, moto_server.endpoint, {"n": 1})
        put_response(fresh_aws, dynamodb_local.endpoint, "s-3")
        # Then all three sources are delivered without anyone driving the runner
        until(lambda: recorder.sqs and recorder.stream and len(recorder.ticks) >= 2)
    finally:
        started = time.monotonic()
        runner.stop()
    # And stop() returns promptly and nothing is delivered afterwards
    assert time.monotonic() - started < 3
    ticks = len(recorder.ticks)
    time.sleep(0.4)
    assert len(recorder.ticks) == ticks


# --- Runner: concurrency, as Lambda's pollers, and draining on stop --------------------------------

def background_runner(env: dict[str, str], dynamodb_local: Any, moto_server: Any, **options: Any) -> Runner:
    return Runner(TestApp, dynamodb_endpoint=dynamodb_local.endpoint, aws_endpoint=moto_server.endpoint,
                  region=env["AWS_REGION"], env=env, tick_seconds=3600, poll_interval_s=0.05, **options)


def test_an_idle_runner_has_a_connection_for_every_poller_and_never_overflows_its_pool(
        fresh_aws: dict[str, str], dynamodb_local: Any, moto_server: Any, caplog: pytest.LogCaptureFixture):
    # Given the stack's runner, 4 pollers per queue, every one long-polling an empty queue
    caplog.set_level(logging.WARNING, logger="urllib3")
    runner = background_runner(fresh_aws, dynamodb_local, moto_server, concurrency=4, wait_s=1).start()
    pollers = 4 * len(runner.queue_sources) + len(runner.topic_sources)
    try:
        # When it idles for a few long polls
        threading.Event().wait(2.5)
    finally:
        runner.stop()
    # Then its SQS client's pool holds a connection per poller, and urllib3 never discarded one
    assert runner.queue_sources[0].sqs.meta.config.max_pool_connections >= pollers > 10
    assert not [r.getMessage() for r in caplog.records if "pool is full" in r.getMessage()]


def test_started_runner_invokes_a_queue_handler_in_parallel_batches(
        fresh_aws: dict[str, str], dynamodb_local: Any, moto_server: Any):
    # Given a runner with 3 pollers, and a handler that returns only once 3 invocations run at once
    together = threading.Barrier(3, timeout=10)
    batches: list[list[str]] = []
    broken: list[BaseException] = []
    lock = threading.Lock()

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        with lock:
            batches.append([r["messageId"] for r in event["Records"]])
        try:
            together.wait()
        except threading.BrokenBarrierError as exc:
            broken.append(exc)
            raise
        return {"batchItemFailures": []}

    runner = background_runner(fresh_aws, dynamodb_local, moto_server, concurrency=3)
    runner.queue_sources[0].handler = handler
    runner.start()
    try:
        # When three messages arrive one after another, each while the earlier ones are being handled
        sent = []
        for n in range(3):
            sent.append(send(fresh_aws, moto_server.endpoint, {"n": n}))
            until(lambda n=n: len(batches) > n)
        # Then three invocations ran at the same time, one batch each, and every message was deleted
        until(lambda: not runner.queue_sources[0].depth().total)
    finally:
        runner.stop()
    assert not broken
    assert sorted(sum(batches, [])) == sorted(sent)
    assert len(batches) == 3


def test_a_stream_stays_one_invocation_at_a_time_whatever_the_concurrency(
        fresh_aws: dict[str, str], dynamodb_local: Any, moto_server: Any):
    # Given a runner with 4 pollers per queue, and a stream handler that takes a while
    running, most, seen = [0], [0], []
    lock = threading.Lock()

    def on_response(event: dict[str, Any], context: Any) -> None:
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)                # the work of an invocation, not a synchronisation
        with lock:
            running[0] -= 1
            seen.extend(r["dynamodb"]["Keys"]["survey_id"]["S"] for r in event["Records"])

    runner = background_runner(fresh_aws, dynamodb_local, moto_server, concurrency=4)
    runner.stream_sources[0].handler = on_response
    runner.start()
    try:
        # When answers keep arriving
        for n in range(6):
            put_response(fresh_aws, dynamodb_local.endpoint, f"s-{n}")
        until(lambda: len(seen) == 6)
    finally:
        runner.stop()
    # Then they were handled in order, never two invocations at once (one per shard, as in AWS)
    assert seen == [f"s-{n}" for n in range(6)]
    assert most[0] == 1


def test_stopping_finishes_the_batch_in_flight_takes_nothing_new_and_says_what_is_left(
        fresh_aws: dict[str, str], dynamodb_local: Any, moto_server: Any, caplog: pytest.LogCaptureFixture):
    # Given a slow handler busy with a batch, and a second poller waiting for messages
    entered, release = threading.Event(), threading.Event()
    handled: list[str] = []

    def slow(event: dict[str, Any], context: Any) -> dict[str, Any]:
        entered.set()
        release.wait(10)            # the test lets it finish once stop() has begun
        handled.extend(r["messageId"] for r in event["Records"])
        return {"batchItemFailures": []}

    runner = background_runner(fresh_aws, dynamodb_local, moto_server, concurrency=2,
                               retry_visibility_s=30)
    source = runner.queue_sources[0]
    source.handler = slow
    stopping_at_receive: list[bool] = []
    real_sqs = source.sqs

    class WatchedSqs:
        """The runner's SQS client, noting whether each ReceiveMessage started after stop()."""

        def __getattr__(self, name: str) -> Any:
            return getattr(real_sqs, name)

        def receive_message(self, **kwargs: Any) -> Any:
            stopping_at_receive.append(runner.stopping)
            return real_sqs.receive_message(**kwargs)

    source.sqs = WatchedSqs()
    first = send(fresh_aws, moto_server.endpoint, {"n": 1})
    runner.start()
    until(entered.is_set)
    # When the runner is stopped while that batch is in flight
    leftovers: list[dict[str, QueueDepth]] = []
    caplog.set_level(logging.WARNING, logger="devstack.runner")
    stopper = threading.Thread(target=lambda: leftovers.append(runner.stop()))
    stopper.start()
    until(lambda: runner.stopping and source.receiving == 0)    # the waiting long poll has ended
    # And three more messages arrive, then the slow batch finishes
    later = {send(fresh_aws, moto_server.endpoint, {"n": n}) for n in (2, 3, 4)}
    release.set()
    stopper.join(timeout=30)
    assert not stopper.is_alive()
    # Then the batch in flight completed and was deleted; nothing was received after stop()
    assert handled == [first]
    assert stopping_at_receive and not any(stopping_at_receive)
    queue = f"{fresh_aws['KOE_RESOURCE_PREFIX']}intake"
    # And the report counts exactly the three that arrived later, and says they are lost with moto
    [depths] = leftovers
    assert depths[queue] == QueueDepth(waiting=3, in_flight=0)
    assert not [name for name, depth in depths.items() if name != queue and depth.total]   # the other queues
    assert f"{queue}: 3 message(s) still queued (3 waiting, 0 in flight)" in caplog.text
    assert "lost when the stack stops" in caplog.text
    remaining = client("sqs", moto_server.endpoint, fresh_aws["AWS_REGION"]).receive_message(
        QueueUrl=fresh_aws["KOE_INTAKE_QUEUE_URL"], MaxNumberOfMessages=10, VisibilityTimeout=0)
    assert {m["MessageId"] for m in remaining.get("Messages", [])} == later


# --- The whole stack, as `make run` starts it ------------------------------------------------------

@pytest.mark.skipif(not (REPO_ROOT / "app.py").exists(), reason="no app.py yet")
def test_python_m_devstack_serves_and_stops_cleanly(tmp_path: Path):
    # Given `python -m devstack` on free ports with a ready file
    ready, output = tmp_path / "ready.json", tmp_path / "devstack.log"
    with output.open("wb") as sink:     # a file, not a pipe nobody reads: that could block it
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "--api-port", "0", "--carrier-port", "0", "--line-port", "0",
             "--alibaba-port", "0", "--wechat-port", "0",
             "--dynamodb-port", "0", "--moto-port", "0", "--in-memory", "--ready-file", str(ready),
             *clock.devstack_args()],
            cwd=REPO_ROOT, stdout=sink, stderr=subprocess.STDOUT)
    try:
        until(lambda: ready.exists() or proc.poll() is not None, timeout_s=40)
        assert proc.poll() is None, output.read_text()
        addresses = json.loads(ready.read_text())
        # When calling the API without a key, and the carrier's health page
        with pytest.raises(urllib.error.HTTPError) as denied:
            urllib.request.urlopen(f"{addresses['api_url']}/v1/scores", timeout=5)
        health = urllib.request.urlopen(f"{addresses['carrier_url']}/health", timeout=5)
        # Then Chalice's routes answer (the key is required) and the carrier is up
        assert denied.value.code in (401, 403)
        assert health.status == 200
        assert addresses["env"]["KOE_TWILIO_BASE_URL"] == addresses["carrier_url"]
        assert addresses["env"]["KOE_PUBLIC_BASE_URL"] == addresses["api_url"]
        # LINE is on, against the stack's stand-in: its secret named, the SDK pointed at it
        assert addresses["env"]["KOE_LINE_BASE_URL"] == addresses["line_url"]
        assert addresses["env"]["KOE_LINE_SECRET_ID"] == "koe-local-line"
        assert urllib.request.urlopen(f"{addresses['line_url']}/health", timeout=5).status == 200
        # And `python -m devstack token` signs what this stack accepts: a CX route opens, an
        # operations route does not (nor does the API key open the CX route)
        minted = subprocess.run([sys.executable, "-m", "devstack", "token", "--role", "cx_admin",
                                 "--ready-file", str(ready)], cwd=REPO_ROOT, capture_output=True, text=True)
        assert minted.returncode == 0, minted.stderr
        bearer = {"Authorization": f"Bearer {minted.stdout.strip()}"}
        assert status_of(f"{addresses['api_url']}/v1/cases", bearer) not in (401, 403)
        assert status_of(f"{addresses['api_url']}/v1/outcomes", bearer) == 403
        assert status_of(f"{addresses['api_url']}/v1/cases", {"x-api-key": addresses["api_key"]}) == 403
    finally:
        # And SIGTERM stops everything, exit 0, the ready file removed
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0
    assert not ready.exists()
    with pytest.raises(OSError):
        urllib.request.urlopen(addresses["dynamodb_endpoint"], timeout=2)


def status_of(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as refused:
        return refused.code


def test_provisioning_adds_an_index_missing_from_a_table_kept_from_an_earlier_run() -> None:
    from devstack.dynamodb_local import DynamoDBLocal

    region = os.environ["AWS_DEFAULT_REGION"]
    # Its own DynamoDB Local: the session's, busy with every other test's tables, can take minutes
    # to build an index in the background.
    with DynamoDBLocal(port=0, region=region) as own:
        _add_missing_indexes(client("dynamodb", own.endpoint, region))


def _add_missing_indexes(dynamodb: Any) -> None:
    from devstack.provision import create_table

    surveys = resources.table("surveys")
    name = f"t{uuid.uuid4().hex[:8]}-surveys"
    older = replace(surveys, indexes=surveys.indexes[:1],            # as the table was before send-at
                    attributes={k: surveys.attributes[k] for k in ("survey_id", "open_shard", "open_until")})
    create_table(dynamodb, older, name)
    create_table(dynamodb, surveys, name)
    indexes = {i["IndexName"] for i in dynamodb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
    assert indexes == {i.name for i in surveys.indexes}
