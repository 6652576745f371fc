"""AWS Lambda's event shapes, built from what the local services return: the SQS, SNS, DynamoDB
stream and scheduled events Lambda passes to a handler, and the `context` object it passes with them.

Pure data conversion (no boto3, no network), so it can be tested alone and reused by anything that
invokes a handler the way Lambda would; `devstack.runner` feeds the local sources through it.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

ACCOUNT_ID = "123456789012"
# System attributes Lambda copies into an SQS record when the message has them.
SQS_RECORD_ATTRIBUTES = ("ApproximateReceiveCount", "SentTimestamp", "SenderId",
                         "ApproximateFirstReceiveTimestamp", "AWSTraceHeader",
                         "DeadLetterQueueSourceArn", "MessageDeduplicationId", "MessageGroupId",
                         "SequenceNumber")


# --- Lambda context ------------------------------------------------------------------------------

@dataclass
class LambdaContext:
    """What Lambda passes as `context`; Powertools idempotency reads the remaining time."""
    function_name: str
    region: str
    timeout_s: float = 30.0
    memory_limit_in_mb: int = 512
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    _deadline: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.function_name}"

    @property
    def log_group_name(self) -> str:
        return f"/aws/lambda/{self.function_name}"

    @property
    def log_stream_name(self) -> str:
        return (f"{datetime.now(UTC):%Y/%m/%d}/[{self.function_version}]"
                f"{uuid.UUID(self.aws_request_id).hex}")

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


# --- Event shapes --------------------------------------------------------------------------------

def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's SQS event source mapping sends, from ReceiveMessage output."""
    return {"Records": [sqs_record(m, queue_arn, region) for m in messages]}


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    attributes = message.get("Attributes", {})
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {k: attributes[k] for k in SQS_RECORD_ATTRIBUTES if k in attributes},
        "messageAttributes": {name: lambda_message_attribute(value)
                              for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    """SQS API's {StringValue, BinaryValue: bytes, DataType} -> Lambda's lower camel, base64 binary."""
    converted: dict[str, Any] = {
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [_b64(b) for b in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }
    if "StringValue" in value:
        converted["stringValue"] = value["StringValue"]
    if "BinaryValue" in value:
        converted["binaryValue"] = _b64(value["BinaryValue"])
    return converted


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def dynamodb_event(records: list[dict[str, Any]], stream_arn: str, region: str) -> dict[str, Any]:
    """The event Lambda's DynamoDB stream mapping sends, from GetRecords output."""
    return {"Records": [dynamodb_record(r, stream_arn, region) for r in records]}


def dynamodb_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    data = record["dynamodb"]
    converted: dict[str, Any] = {
        # boto3 parses the epoch number into a datetime; Lambda sends the number.
        "ApproximateCreationDateTime": int(data["ApproximateCreationDateTime"].timestamp()),
        "Keys": wire_item(data["Keys"]),
        "SequenceNumber": data["SequenceNumber"],
        "SizeBytes": data["SizeBytes"],
        "StreamViewType": data["StreamViewType"],
    }
    for image in ("NewImage", "OldImage"):
        if image in data:
            converted[image] = wire_item(data[image])
    lambda_record: dict[str, Any] = {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": converted,
        "eventSourceARN": stream_arn,
    }
    if "userIdentity" in record:        # TTL deletions carry the dynamodb.amazonaws.com principal
        lambda_record["userIdentity"] = record["userIdentity"]
    return lambda_record


def wire_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: wire_value(value) for name, value in item.items()}


def wire_value(value: dict[str, Any]) -> dict[str, Any]:
    """Raw DynamoDB JSON as Lambda sends it: boto3 gives binary as bytes, the wire has base64."""
    (kind, inner), = value.items()
    if kind == "B":
        return {"B": _b64(inner)}
    if kind == "BS":
        return {"BS": [_b64(b) for b in inner]}
    if kind == "M":
        return {"M": wire_item(inner)}
    if kind == "L":
        return {"L": [wire_value(v) for v in inner]}
    return {kind: inner}


def scheduled_event(rule_arn: str, region: str, now: datetime | None = None) -> dict[str, Any]:
    """The EventBridge scheduled event Lambda receives from a `rate(...)` rule."""
    now = now or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [rule_arn],
        "detail": {},
    }


def sns_event(envelope: dict[str, Any], subscription_arn: str) -> dict[str, Any]:
    """The event Lambda receives from an SNS subscription (one record), from the JSON SNS delivers
    to an SQS subscription without raw delivery (its `SigningCertURL` is Lambda's `SigningCertUrl`)."""
    attributes = envelope.get("MessageAttributes") or {}
    return {"Records": [{
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": envelope.get("Type", "Notification"),
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope["TopicArn"],
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": envelope.get("Timestamp", ""),
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", ""),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": envelope.get("UnsubscribeURL", ""),
            "MessageAttributes": {name: {"Type": value.get("Type", "String"), "Value": value.get("Value", "")}
                                  for name, value in attributes.items()},
        },
    }]}
