"""DynamoDB errors as koe's named errors, in one place for every store.

- Throttling that outlived the SDK's retries becomes `StorageThrottled` (retryable).
- A refused condition on a single-item write is an answer, not a failure: `conditional` turns it
  into False (or into the named error the caller gives).
- A cancelled transaction carries one reason per item: `cancel_codes` reads them, and
  `raise_if_retryable` picks out the ones worth another try; what a refused item means is up to
  the store that built the transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pynamodb.exceptions import DoesNotExist, PynamoDBException, TransactWriteError
from pynamodb.models import Model

from chalicelib.errors import StorageThrottled

# Error codes that mean "DynamoDB is busy, try again later", on a whole request ...
THROTTLING_CODES = frozenset({
    "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
    # the same ClientRequestToken is still being applied by an earlier call: retry later
    "TransactionInProgressException",
})
# ... and on one item of a cancelled transaction (CancellationReasons codes).
RETRYABLE_CANCEL_CODES = frozenset({
    "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded",
    "TransactionConflict",     # another transaction touched the item at the same moment
})
CONDITION_FAILED = "ConditionalCheckFailed"
CONDITION_FAILED_EXCEPTION = "ConditionalCheckFailedException"


@contextmanager
def throttling_as_retryable() -> Iterator[None]:
    """Throttling that outlived the SDK's retries becomes StorageThrottled; the rest passes."""
    try:
        yield
    except PynamoDBException as exc:
        if exc.cause_response_code in THROTTLING_CODES:
            raise StorageThrottled(exc.cause_response_code or "throttled") from exc
        raise


ItemT = TypeVar("ItemT", bound=Model)


def get_or_none(model: type[ItemT], hash_key: Any, range_key: Any = None) -> ItemT | None:
    """One consistent read of an item (the caller decides on it and writes back at once): None
    when there is no such item; throttling becomes StorageThrottled. One request."""
    with throttling_as_retryable():
        try:
            return model.get(hash_key, range_key, consistent_read=True)
        except DoesNotExist:
            return None


def conditional(write: Callable[[], object], refused: Exception | None = None) -> bool:
    """Run one conditional single-item write (save, update, delete): True when it was applied;
    when DynamoDB refuses it on its condition, False, or `refused` raised from the refusal when
    given. Throttling becomes StorageThrottled; any other error passes unchanged. One request."""
    with throttling_as_retryable():
        try:
            write()
        except PynamoDBException as exc:
            if exc.cause_response_code != CONDITION_FAILED_EXCEPTION:
                raise
            if refused is not None:
                raise refused from exc
            return False
    return True


def cancel_codes(exc: TransactWriteError) -> list[str | None]:
    """One code per transaction item, in the order PynamoDB sent them (None: not a cause)."""
    return [reason.code if reason else None for reason in exc.cancellation_reasons]


def raise_if_retryable(exc: TransactWriteError, codes: list[str | None]) -> None:
    if exc.cause_response_code in THROTTLING_CODES or RETRYABLE_CANCEL_CODES.intersection(codes):
        raise StorageThrottled(exc.cause_response_code or "transaction cancelled") from exc
