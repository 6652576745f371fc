"""Comment insight storage: `DynamoInsightStore` (comment-insights, comment-groups) and
`DynamoCommentSource` (a survey's comments in the responses table).

`save` writes a batch exactly once per comment version: each chunk (domain/comment_insight.chunks,
at most MAX_TRANSACTION_ITEMS items) is one TransactWriteItems of
- a put per insight, on condition that the stored one is still the version read (none, or that one):
  a replayed message finds its version stored and adds nothing;
- a put per group-day it moves, the counters read (one consistent BatchGetItem), changed by
  domain/comment_insight.apply (counts, and the bounded top-phrases map) and written on condition
  that the item is still at the version read (optimistic locking).
An insight whose condition fails is another version stored meanwhile: it leaves the chunk and is
returned to the caller (retried). A group whose condition fails, or a TransactionConflict, means
another batch moved the same counters: they are read again and the chunk written again, up to
ATTEMPTS times (then InsightConflict: the records are retried by SQS).

Reads: `latest` queries one index (by-agent, by-branch or all-comments, newest first, filters on
the rest) for at most `limit` items; `groups` queries one dimension over the days (days x values
items), or gets one value's day items (one BatchGetItem per 100 days).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta

from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.indexes import GlobalSecondaryIndex
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.binding import MAX_TRANSACTION_ITEMS, require_bound, shared_connection
from chalicelib.adapters.dynamo.errors import (
    CONDITION_FAILED,
    RETRYABLE_CANCEL_CODES,
    THROTTLING_CODES,
    cancel_codes,
    throttling_as_retryable,
)
from chalicelib.adapters.dynamo.insight_items import (
    ALL_SHARD,
    CommentGroupItem,
    CommentInsightItem,
    insight_from_item,
    insight_to_item,
    tally_from_item,
    tally_to_item,
)
from chalicelib.adapters.dynamo.models import ResponseItem
from chalicelib.adapters.dynamo.survey_items import comments_from_item
from chalicelib.domain.comment_insight import (
    CommentInsight,
    GroupKey,
    GroupTally,
    InsightChange,
    apply,
    changes,
    chunks,
)
from chalicelib.domain.model import Answer
from chalicelib.errors import InsightConflict, StorageThrottled
from chalicelib.services.ports import CommentQuery
from chalicelib.settings import Settings

ATTEMPTS = 4
PAGE_SIZE = 100
CONFLICT = "TransactionConflict"            # another transaction touched an item at the same moment
THROTTLED_ITEM = RETRYABLE_CANCEL_CODES - {CONFLICT}


class DynamoInsightStore:
    """Built after configure(settings). Insights and counters are kept `retention` (TTL), like the
    answers they are read from."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)
        self._retention = timedelta(days=settings.retention_days)
        self.items_read = 0           # items the reads returned (for tests and benches)

    # --- writing
    def get(self, survey_id: str) -> CommentInsight | None:
        with throttling_as_retryable():
            try:
                return insight_from_item(CommentInsightItem.get(survey_id, consistent_read=True))
            except DoesNotExist:
                return None

    def save(self, batch: Sequence[InsightChange]) -> set[str]:
        conflicts: set[str] = set()
        for chunk in chunks(batch, MAX_TRANSACTION_ITEMS):
            conflicts |= self._save_chunk(chunk)
        return conflicts

    def _save_chunk(self, chunk: list[InsightChange]) -> set[str]:
        pending, conflicts = list(chunk), set[str]()
        for _ in range(ATTEMPTS):
            if not pending:
                return conflicts
            deltas = changes(pending)
            tallies = self._tallies(list(deltas))
            try:
                with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                    for change in pending:
                        tx.save(insight_to_item(change.new, change.new.received_at + self._retention),
                                condition=_still(change.previous))
                    for key, delta in deltas.items():
                        tally = tallies[key]
                        tx.save(tally_to_item(apply(tally, delta), _day_end(key) + self._retention),
                                condition=_at_version(tally.version))
                return conflicts
            except TransactWriteError as exc:
                codes = cancel_codes(exc)
                if exc.cause_response_code in THROTTLING_CODES or THROTTLED_ITEM & set(codes):
                    raise StorageThrottled(exc.cause_response_code or "transaction throttled") from exc
                if not codes or set(codes) - {None, CONDITION_FAILED, CONFLICT}:
                    raise
                replaced = {pending[i].new.survey_id for i, code in enumerate(codes[:len(pending)])
                            if code == CONDITION_FAILED}
                conflicts |= replaced
                pending = [c for c in pending if c.new.survey_id not in replaced]
                # otherwise: a group moved under us (its condition, or a TransactionConflict): read again
        raise InsightConflict("comment group counters kept changing")

    def _tallies(self, keys: list[GroupKey]) -> dict[GroupKey, GroupTally]:
        found = {key: GroupTally(key) for key in keys}
        if keys:
            with throttling_as_retryable():
                items = CommentGroupItem.batch_get([(k.dimension, k.sort_key) for k in keys], consistent_read=True)
                for item in items:
                    tally = tally_from_item(item)
                    found[tally.key] = tally
        return found

    # --- reading
    def latest(self, query: CommentQuery) -> list[CommentInsight]:
        in_period = CommentInsightItem.received_at.between(query.start, query.end - timedelta(microseconds=1))
        filters: list[Condition] = []
        index: GlobalSecondaryIndex[CommentInsightItem]
        if query.agent_id:
            index, hash_key = CommentInsightItem.by_agent, query.agent_id
            if query.branch:
                filters.append(CommentInsightItem.branch == query.branch)
        elif query.branch:
            index, hash_key = CommentInsightItem.by_branch, query.branch
        else:
            index, hash_key = CommentInsightItem.all_comments, ALL_SHARD
        if query.procedure:
            filters.append(CommentInsightItem.procedure == query.procedure)
        if query.sentiment:
            filters.append(CommentInsightItem.sentiment == query.sentiment)
        condition = None
        for part in filters:
            condition = part if condition is None else condition & part
        with throttling_as_retryable():
            items = list(index.query(hash_key, range_key_condition=in_period, filter_condition=condition,
                                     scan_index_forward=False, limit=query.limit, page_size=PAGE_SIZE))
        self.items_read += len(items)
        return [insight_from_item(item) for item in items[:query.limit]]

    def groups(self, dimension: str, from_day: str, to_day: str, value: str | None = None) -> list[GroupTally]:
        with throttling_as_retryable():
            if value is None:
                # "$" sorts right after "#": every "to_day#<value>" is below "to_day$".
                items = list(CommentGroupItem.query(
                    dimension, range_key_condition=CommentGroupItem.bucket.between(f"{from_day}#", f"{to_day}$")))
            else:
                keys = [(dimension, f"{day}#{value}") for day in _days(from_day, to_day)]
                items = list(CommentGroupItem.batch_get(keys))
        self.items_read += len(items)
        return sorted((tally_from_item(item) for item in items), key=lambda t: t.key)


class DynamoCommentSource:
    """A survey's comments as the responses table holds them now. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)

    def comments(self, survey_id: str) -> list[Answer]:
        with throttling_as_retryable():
            try:
                return comments_from_item(ResponseItem.get(survey_id, "comment", consistent_read=True))
            except DoesNotExist:
                return []


def _still(previous: CommentInsight | None) -> Condition:
    if previous is None:
        return CommentInsightItem.survey_id.does_not_exist()
    condition: Condition = CommentInsightItem.version == previous.version
    return condition


def _at_version(version: int) -> Condition:
    if version == 0:
        return CommentGroupItem.dimension.does_not_exist()
    condition: Condition = CommentGroupItem.version == version
    return condition


def _day_end(key: GroupKey) -> datetime:
    return datetime.combine(date.fromisoformat(key.day) + timedelta(days=1), time(), UTC)


def _days(from_day: str, to_day: str) -> list[str]:
    first, last = date.fromisoformat(from_day), date.fromisoformat(to_day)
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]
