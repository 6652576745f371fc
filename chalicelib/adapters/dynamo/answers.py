"""The answers as stored, read by period: `DynamoAnswerArchive` (the answers export).

The responses table's sparse `by-month` index holds one item per answered survey (its score
answer, keyed `YYYY-MM#k`, sorted by received_at; domain/exports.py). A period is one query per UTC
month and shard, each shard's months chained in order and the shards merged by (received_at,
survey_id); the comments of the answers kept are then read by key, one BatchGetItem per
BATCH_GET_KEYS answers (a survey's comments are one item: every comment, each with its time).

Cost: the queries' range conditions bound them to the period, so the items read are the period's
score answers (every one of them: the selection is applied after reading, where fake and real share
it) plus the kept answers' comments; never the rest of the table. A caller that stops early has read
at most one page per shard and one batch of comments beyond what it took. A period of M months
costs M x MONTH_SHARDS queries, most of them one small page.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import timedelta
from itertools import groupby, islice

from pynamodb.pagination import ResultIterator

from chalicelib.adapters.dynamo.binding import require_bound
from chalicelib.adapters.dynamo.errors import throttling_as_retryable
from chalicelib.adapters.dynamo.models import ResponseItem
from chalicelib.adapters.dynamo.survey_items import answer_from_item, comments_from_item
from chalicelib.domain.exports import MONTH_SHARDS, months, partition, position
from chalicelib.domain.model import Answer
from chalicelib.services.ports import AnsweredSurvey, AnswerPeriod
from chalicelib.settings import Settings

PAGE_SIZE = 200            # items per query page (a score item is well under 2 KB)
BATCH_GET_KEYS = 100       # BatchGetItem's limit


class DynamoAnswerArchive:
    """Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)
        self.items_read = 0          # items the queries and batch reads returned (for tests and reports)

    def answers_between(self, period: AnswerPeriod) -> Iterator[AnsweredSurvey]:
        shards = [self._shard(k, period) for k in range(MONTH_SHARDS)]
        kept = (a for a in heapq.merge(*shards, key=position) if period.selection.matches(a))
        while batch := list(islice(kept, BATCH_GET_KEYS)):
            comments = self._comments([a.survey_id for a in batch])
            yield from (AnsweredSurvey(a, tuple(comments.get(a.survey_id, ()))) for a in batch)

    def _shard(self, shard: int, period: AnswerPeriod) -> Iterator[Answer]:
        """One shard's score answers of the period, month after month, in position order."""
        start = max(period.start, period.after.received_at) if period.after else period.start
        in_period = ResponseItem.received_at.between(start, period.end - timedelta(microseconds=1))
        for month in months(start, period.end):
            with throttling_as_retryable():
                results = ResponseItem.by_month.query(partition(month, shard), range_key_condition=in_period,
                                                      scan_index_forward=True, page_size=PAGE_SIZE)
                answers = self._counted(results)
                # The index orders by received_at only: equal times are put in survey_id order here.
                for _, tied in groupby(answers, key=lambda a: a.received_at):
                    for answer in sorted(tied, key=lambda a: a.survey_id):
                        if period.after is None or position(answer) > period.after:
                            yield answer

    def _counted(self, results: ResultIterator[ResponseItem]) -> Iterator[Answer]:
        """The items as answers, counting each page's items when it arrives (read, taken or not)."""
        seen = 0
        for item in results:
            self.items_read += results.total_count - seen
            seen = results.total_count
            yield answer_from_item(item)

    def _comments(self, survey_ids: list[str]) -> dict[str, list[Answer]]:
        with throttling_as_retryable():
            items = list(ResponseItem.batch_get([(survey_id, "comment") for survey_id in survey_ids]))
        self.items_read += len(items)
        return {item.survey_id: comments_from_item(item) for item in items}
