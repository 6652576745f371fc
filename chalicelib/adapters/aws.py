"""SQS and SNS adapters. boto3 clients come from bootstrap (one place builds real clients);
here SDK errors become koe's named errors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.domain.comment_insight import InsightRequest
from chalicelib.errors import EnqueueFailed, RetryableError

SQS_BATCH = 10          # SendMessageBatch takes at most 10 entries


class SqsIntakeQueue:
    def __init__(self, client: Any, queue_url: str):
        self._sqs = client
        self._url = queue_url

    def enqueue(self, events: Sequence[dict[str, Any]]) -> list[int]:
        failed: list[int] = []
        for start in range(0, len(events), SQS_BATCH):
            chunk = events[start:start + SQS_BATCH]
            entries = [{"Id": str(start + i), "MessageBody": json.dumps(e, ensure_ascii=False)}
                       for i, e in enumerate(chunk)]
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (ClientError, BotoCoreError):
                failed.extend(range(start, start + len(chunk)))   # told to the caller per event
                continue
            failed.extend(int(f["Id"]) for f in answer.get("Failed", []))
        return sorted(failed)


class SqsDeadLetters:
    """Records that can never succeed (or kept failing) go here with the reason as an attribute."""

    def __init__(self, client: Any, queue_url: str):
        self._sqs = client
        self._url = queue_url

    def put(self, body: str, reason: str, source_id: str) -> None:
        try:
            self._sqs.send_message(
                QueueUrl=self._url,
                MessageBody=body,
                MessageAttributes={
                    "reason": {"DataType": "String", "StringValue": reason[:1000] or "unknown"},
                    "source_message_id": {"DataType": "String", "StringValue": source_id or "-"},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise EnqueueFailed(f"dead-letter queue refused the record: {exc}") from exc


class SqsFollowUps:
    def __init__(self, client: Any, queue_url: str):
        self._sqs = client
        self._url = queue_url

    def put(self, message: dict[str, Any]) -> None:
        try:
            self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(message, ensure_ascii=False))
        except (ClientError, BotoCoreError) as exc:
            raise EnqueueFailed(f"follow-up queue refused the case: {exc}") from exc


class SnsAlerts:
    def __init__(self, client: Any, topic_arn: str):
        self._sns = client
        self._arn = topic_arn

    def publish(self, message: Mapping[str, Any], attributes: Mapping[str, str]) -> None:
        # Message attributes are what SNS subscription filter policies match on; empty values are
        # not allowed by SNS, so they are left out.
        message_attributes = {name: {"DataType": "String", "StringValue": value}
                              for name, value in attributes.items() if value}
        try:
            self._sns.publish(TopicArn=self._arn, Subject=f"koe case alert: {message.get('event', '')}",
                              Message=json.dumps(message, ensure_ascii=False),
                              MessageAttributes=message_attributes)
        except (ClientError, BotoCoreError) as exc:
            raise EnqueueFailed(f"alert topic refused the alert: {exc}") from exc


class SqsVisibility:
    """ChangeMessageVisibility and DeleteMessage on one queue: a failed record comes back after its
    backoff; a dead-lettered one leaves its queue at once. A refusal
    (the receipt handle expired, the message already gone) becomes RetryableError: the caller logs
    it, and the message comes back after the queue's own visibility timeout instead."""

    def __init__(self, client: Any, queue_url: str):
        self._sqs = client
        self._url = queue_url

    def delay(self, receipt_handle: str, seconds: int) -> None:
        try:
            self._sqs.change_message_visibility(QueueUrl=self._url, ReceiptHandle=receipt_handle,
                                                VisibilityTimeout=seconds)
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"could not delay the message: {type(exc).__name__}") from exc

    def remove(self, receipt_handle: str) -> None:
        try:
            self._sqs.delete_message(QueueUrl=self._url, ReceiptHandle=receipt_handle)
        except (ClientError, BotoCoreError) as exc:
            raise RetryableError(f"could not delete the message: {type(exc).__name__}") from exc


class SqsInsightRequests:
    """The comment-insight queue: one message per comment to read (survey id and version, no text)."""

    def __init__(self, client: Any, queue_url: str):
        self._sqs = client
        self._url = queue_url

    def request(self, requests: Sequence[InsightRequest]) -> None:
        for start in range(0, len(requests), SQS_BATCH):
            entries = [{"Id": str(n), "MessageBody": r.to_body()}
                       for n, r in enumerate(requests[start:start + SQS_BATCH])]
            try:
                answer = self._sqs.send_message_batch(QueueUrl=self._url, Entries=entries)
            except (ClientError, BotoCoreError) as exc:
                raise EnqueueFailed(f"comment-insight queue refused the comments: {type(exc).__name__}") from exc
            if answer.get("Failed"):
                raise EnqueueFailed(f"comment-insight queue refused {len(answer['Failed'])} comments")
