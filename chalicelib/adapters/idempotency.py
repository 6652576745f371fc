"""Powertools idempotency for dispatch, keyed on the business key (event_id), never the SQS id.

Built lazily (not at import) from a boto3 client that bootstrap configures. What it stores is the
dispatch outcome (survey id, status, reason): no personal data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chalicelib.errors import EventInProgress

IDEMPOTENCY_DAYS = 7


class Idempotency:
    def __init__(self, table_name: str, dynamodb_client: Any):
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig

        self.config = IdempotencyConfig(event_key_jmespath="event_id",
                                        expires_after_seconds=IDEMPOTENCY_DAYS * 24 * 3600)
        self._persistence = DynamoDBPersistenceLayer(table_name=table_name, boto3_client=dynamodb_client)

    def wrap(self, function: Callable[[dict[str, Any]], dict[str, str]]) -> Callable[[dict[str, Any]], dict[str, str]]:
        from aws_lambda_powertools.utilities.idempotency import idempotent_function
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        # Powertools' decorator is untyped; the wrapped function keeps the signature written here.
        @idempotent_function(data_keyword_argument="event", persistence_store=self._persistence,  # type: ignore[untyped-decorator]
                             config=self.config)
        def once(event: dict[str, Any]) -> dict[str, str]:
            return function(event)

        def call(event: dict[str, Any]) -> dict[str, str]:
            try:
                outcome: dict[str, str] = once(event=event)
            except IdempotencyAlreadyInProgressError as exc:
                raise EventInProgress(str(exc)) from exc
            return outcome

        return call

    def register_context(self, context: Any) -> None:
        """An in-progress record then expires with the Lambda's timeout, not after an hour."""
        if context is not None:
            self.config.register_lambda_context(context)


DEAD_LETTER_MARK_DAYS = 14      # SQS keeps a message at most 14 days: no record comes back after that


class DeadLetterMarks:
    """Records given up (services/batch.py), in the idempotency table beside Powertools' own items,
    under keys of their own (`dead-letter#<SQS message id>`) and its TTL attribute: an SQS message id
    and a reason (an error's name and message), no personal data."""

    PREFIX = "dead-letter#"

    def __init__(self, table_name: str, dynamodb_client: Any, clock: Callable[[], Any]):
        self._table, self._dynamodb, self._clock = table_name, dynamodb_client, clock

    def mark(self, message_id: str, reason: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.errors import StorageThrottled

        expires = int(self._clock().timestamp()) + DEAD_LETTER_MARK_DAYS * 24 * 3600
        try:
            self._dynamodb.put_item(TableName=self._table, Item={
                "id": {"S": self.PREFIX + message_id}, "reason": {"S": reason[:1000] or "unknown"},
                "expiration": {"N": str(expires)}})
        except (ClientError, BotoCoreError) as exc:
            raise StorageThrottled(f"could not mark the record given up: {type(exc).__name__}") from exc

    def reason_of(self, message_id: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        from chalicelib.errors import StorageThrottled

        try:
            item = self._dynamodb.get_item(TableName=self._table, Key={"id": {"S": self.PREFIX + message_id}},
                                           ConsistentRead=True).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise StorageThrottled(f"could not read the record's mark: {type(exc).__name__}") from exc
        return None if item is None else str(item.get("reason", {}).get("S", "unknown"))
