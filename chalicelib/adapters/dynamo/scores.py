"""Pre-aggregated score counters, counted exactly once per answer: `DynamoScoreStore`.

Counters live in `shards` partitions per dimension (`procedure`, `procedure#1` ...): a transaction
writes one shard, so a busy day's writes spread over the partitions; a read queries each.

`count` writes each chunk of a batch (domain/scoring.py `chunks`) as one TransactWriteItems: a
ledger item per answer in `counted-answers` on condition it is new, and the chunk's summed
increments per bucket, in one shard of each dimension. An answer already in the ledger (a re-delivered
or bisected stream batch) cancels the transaction with ConditionalCheckFailed on its item; it is
taken out and the rest written again. Reads query one dimension over a day range: the items read
are days x values x scales x shards at most, whatever the number of answers. Each counter expires
KOE_COUNTER_RETENTION_DAYS after the end of its day (TTL `expires_at`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.binding import MAX_TRANSACTION_ITEMS, require_bound, shared_connection
from chalicelib.adapters.dynamo.errors import (
    CONDITION_FAILED,
    cancel_codes,
    raise_if_retryable,
    throttling_as_retryable,
)
from chalicelib.adapters.dynamo.models import CountedItem, ScoreItem
from chalicelib.adapters.dynamo.outcomes import counter_expiry
from chalicelib.domain import scoring
from chalicelib.domain.model import Counts
from chalicelib.domain.questions import Scale
from chalicelib.domain.scoring import BucketKey, Contribution
from chalicelib.settings import Settings

LEDGER_DAYS = 30       # longer than a stream record (24 h) and its DLQ (14 days) can come back


class DynamoScoreStore:
    """Score counters per dimension x day#value#scale#shard. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)
        self._retention = timedelta(days=settings.counter_retention_days)
        self.items_read = 0            # counters read by this store's queries (for tests and benches)

    def count(self, items: Sequence[Contribution], shards: int, now: datetime) -> int:
        """Add each answer's increments once; returns how many answers were new."""
        added = 0
        for chunk in scoring.chunks(items, MAX_TRANSACTION_ITEMS):
            added += self._count_chunk(chunk, scoring.shard_for(chunk, shards), now)
        return added

    def _count_chunk(self, chunk: list[Contribution], shard: int, now: datetime) -> int:
        pending, expires = list(chunk), now + timedelta(days=LEDGER_DAYS)
        while pending:
            try:
                with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                    for item in pending:
                        tx.save(CountedItem(item.answer_id, counted_at=now, expires_at=expires),
                                condition=CountedItem.answer_id.does_not_exist())
                    for key, counts in scoring.tally(pending).items():
                        tx.update(ScoreItem(scoring.partition(key.dimension, shard), key.sort_key),
                                  actions=[*_increments(counts),
                                           ScoreItem.expires_at.set(counter_expiry(key.day, self._retention))])
                return len(pending)
            except TransactWriteError as exc:
                codes = cancel_codes(exc)
                raise_if_retryable(exc, codes)
                seen = {pending[i].answer_id for i, code in enumerate(codes[:len(pending)]) if code == CONDITION_FAILED}
                if not seen:
                    raise
                pending = [item for item in pending if item.answer_id not in seen]
        return 0

    def read(self, dimension: str, from_day: str, to_day: str, shards: int = 1) -> list[tuple[BucketKey, Counts]]:
        # "$" is the character after "#": every "to_day#..." sorts below "to_day$".
        rows: list[tuple[BucketKey, Counts]] = []
        for shard in range(shards):
            in_range = ScoreItem.bucket.between(f"{from_day}#", f"{to_day}$")
            with throttling_as_retryable():
                items = list(ScoreItem.query(scoring.partition(dimension, shard), range_key_condition=in_range))
            self.items_read += len(items)
            rows += [(parse_sort_key(dimension, item.bucket), _counts_from_item(item)) for item in items]
        return rows


def _increments(counts: Counts) -> list[Action]:
    return [ScoreItem.n.add(counts.n), ScoreItem.promoters.add(counts.promoters),
            ScoreItem.passives.add(counts.passives), ScoreItem.detractors.add(counts.detractors),
            ScoreItem.score_sum.add(counts.score_sum), ScoreItem.score_sq_sum.add(counts.score_sq_sum)]


def parse_sort_key(dimension: str, sort_key: str) -> BucketKey:
    """`YYYY-MM-DD#value#scale`; a counter from before scales is `YYYY-MM-DD#value` (nps). The
    value may itself contain '#': the scale is read from the right. The value is empty for the
    answers without one (`YYYY-MM-DD##nps`: scoring.NO_VALUE)."""
    day, rest = sort_key[:10], sort_key[11:]
    value, sep, scale = rest.rpartition("#")
    if sep and scale in {s.value for s in Scale}:
        return BucketKey(dimension, day, value, scale)
    return BucketKey(dimension, day, rest, Scale.NPS.value)


def _counts_from_item(item: ScoreItem) -> Counts:
    return Counts(n=int(item.n or 0), promoters=int(item.promoters or 0), passives=int(item.passives or 0),
                  detractors=int(item.detractors or 0), score_sum=int(item.score_sum or 0),
                  score_sq_sum=int(item.score_sq_sum or 0))
