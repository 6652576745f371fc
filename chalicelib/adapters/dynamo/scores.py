"""Pre-aggregated score counters: `DynamoScoreStore` and its helpers (increments, bucket keys,
request tokens). A batch of totals is written as TransactWriteItems of at most
MAX_TRANSACTION_ITEMS updates, each chunk idempotent on a token derived from the caller's.
"""

from __future__ import annotations

import hashlib
import uuid

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.binding import MAX_TRANSACTION_ITEMS, require_bound, shared_connection
from chalicelib.adapters.dynamo.errors import cancel_codes, raise_if_retryable, throttling_as_retryable
from chalicelib.adapters.dynamo.models import ScoreItem
from chalicelib.domain.model import Counts
from chalicelib.domain.scoring import BucketKey
from chalicelib.errors import PermanentError
from chalicelib.settings import Settings


class DynamoScoreStore:
    """Pre-aggregated counters per dimension x day#value. Built after configure(settings).

    `add` is idempotent on its token through TransactWriteItems' ClientRequestToken: DynamoDB
    (and DynamoDB Local 3.3, checked by the contract suite) applies a repeated token once, for
    10 minutes. A retry after that would count again. The same token with other totals is
    refused (IdempotentParameterMismatch): that is a bug in the caller, so PermanentError."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)

    def add(self, totals: dict[BucketKey, Counts], token: str) -> None:
        # Sorted so that a retried batch splits into the same chunks with the same tokens.
        buckets = sorted(totals.items(), key=lambda kv: (kv[0].dimension, kv[0].sort_key))
        for index in range(0, len(buckets), MAX_TRANSACTION_ITEMS):
            chunk = buckets[index:index + MAX_TRANSACTION_ITEMS]
            self._add_chunk(chunk, _request_token(token, index // MAX_TRANSACTION_ITEMS))

    def _add_chunk(self, chunk: list[tuple[BucketKey, Counts]], request_token: str) -> None:
        try:
            with throttling_as_retryable(), TransactWrite(
                    connection=shared_connection(), client_request_token=request_token) as tx:
                for key, counts in chunk:
                    tx.update(ScoreItem(key.dimension, key.sort_key), actions=_increments(counts))
        except TransactWriteError as exc:
            if exc.cause_response_code == "IdempotentParameterMismatchException":
                raise PermanentError("score token reused with different totals") from exc
            raise_if_retryable(exc, cancel_codes(exc))
            raise

    def read(self, dimension: str, from_day: str, to_day: str) -> list[tuple[BucketKey, Counts]]:
        # "$" is the character after "#": every "to_day#<value>" sorts below "to_day$", whatever
        # the value (an upper bound like "#\uffff" would miss values starting above U+FFFF).
        in_range = ScoreItem.bucket.between(f"{from_day}#", f"{to_day}$")
        with throttling_as_retryable():
            items = list(ScoreItem.query(dimension, range_key_condition=in_range))
        return [(_bucket_key(item), _counts_from_item(item)) for item in items]


def _increments(counts: Counts) -> list[Action]:
    return [ScoreItem.n.add(counts.n), ScoreItem.promoters.add(counts.promoters),
            ScoreItem.passives.add(counts.passives), ScoreItem.detractors.add(counts.detractors),
            ScoreItem.score_sum.add(counts.score_sum)]


def _bucket_key(item: ScoreItem) -> BucketKey:
    day, _, value = item.bucket.partition("#")
    return BucketKey(dimension=item.dimension, day=day, value=value)


def _counts_from_item(item: ScoreItem) -> Counts:
    return Counts(n=int(item.n or 0), promoters=int(item.promoters or 0),
                  passives=int(item.passives or 0), detractors=int(item.detractors or 0),
                  score_sum=int(item.score_sum or 0))


def _request_token(token: str, chunk: int) -> str:
    """ClientRequestToken is at most 36 characters: a UUID derived from the caller's token."""
    digest = hashlib.sha256(f"{token}#{chunk}".encode()).digest()
    return str(uuid.UUID(bytes=digest[:16]))
