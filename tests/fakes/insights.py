"""Fakes of koe's comment-insight ports (services/ports.py): the analyser, the insight queue, the
comment source and the insight store. The store keeps the same conditions and counting as
chalicelib/adapters/dynamo/insights.py, checked by tests/integration/test_insight_store_contract.py.

The fake analyser is a fake of koe's own port for service tests: each test says what a text reads
as. (The local stack never fakes it: it runs the offline analysers.)"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from chalicelib.domain.comment_insight import (
    CommentInsight,
    GroupKey,
    GroupTally,
    Insight,
    InsightChange,
    InsightRequest,
    Sentiment,
    apply,
    changes,
)
from chalicelib.domain.model import Answer
from chalicelib.errors import EnqueueFailed, KoeError
from chalicelib.services.ports import CommentQuery
from tests.fakes.stores import Answers, Threads, comments_of

NEUTRAL = Insight(Sentiment.NEUTRAL, 0.0, ())


@dataclass
class FakeCommentAnalyser:
    reads: dict[str, Insight] = field(default_factory=dict)         # text -> what it reads as
    calls: list[tuple[str, str]] = field(default_factory=list)      # (text, language)
    fail_with: KoeError | None = None                               # raised by the next call

    def analyse(self, text: str, language: str) -> Insight:
        if self.fail_with is not None:
            error, self.fail_with = self.fail_with, None
            raise error
        self.calls.append((text, language))
        return self.reads.get(text, NEUTRAL)


@dataclass
class FakeInsightRequests:
    requests: list[InsightRequest] = field(default_factory=list)
    refuse: bool = False

    def request(self, requests: Sequence[InsightRequest]) -> None:
        if self.refuse:
            raise EnqueueFailed("comment-insight queue unavailable")
        self.requests.extend(requests)

    def bodies(self) -> list[str]:
        return [r.to_body() for r in self.requests]


@dataclass
class FakeCommentSource:
    """Reads comments from a conversation store's answers and comment threads."""

    answers: Answers
    threads: Threads = field(default_factory=dict)

    def comments(self, survey_id: str) -> list[Answer]:
        return comments_of(self.answers, self.threads, survey_id)


@dataclass
class FakeInsightStore:
    insights: dict[str, CommentInsight] = field(default_factory=dict)
    tallies: dict[GroupKey, GroupTally] = field(default_factory=dict)
    saves: int = 0
    items_read: int = 0
    before_save: Callable[[], None] | None = None        # runs once, first thing in the next save (a race)

    def get(self, survey_id: str) -> CommentInsight | None:
        return self.insights.get(survey_id)

    def save(self, batch: Sequence[InsightChange]) -> set[str]:
        if self.before_save is not None:
            hook, self.before_save = self.before_save, None
            hook()
        self.saves += 1
        conflicts = {c.new.survey_id for c in batch if not _still(self.insights.get(c.new.survey_id), c.previous)}
        accepted = [c for c in batch if c.new.survey_id not in conflicts]
        for change in accepted:
            self.insights[change.new.survey_id] = change.new
        for key, delta in changes(accepted).items():
            self.tallies[key] = apply(self.tallies.get(key, GroupTally(key)), delta)
        return conflicts

    def latest(self, query: CommentQuery) -> list[CommentInsight]:
        found = [i for i in self.insights.values()
                 if query.start <= i.received_at < query.end
                 and (query.procedure is None or i.procedure == query.procedure)
                 and (query.branch is None or i.branch == query.branch)
                 and (query.agent_id is None or i.agent_id == query.agent_id)
                 and (query.sentiment is None or i.sentiment.value == query.sentiment)]
        newest = sorted(found, key=lambda i: i.received_at, reverse=True)[:query.limit]
        self.items_read += len(newest)
        return newest

    def groups(self, dimension: str, from_day: str, to_day: str, value: str | None = None) -> list[GroupTally]:
        found = sorted((t for t in self.tallies.values()
                        if t.key.dimension == dimension and from_day <= t.key.day <= to_day
                        and (value is None or t.key.value == value)), key=lambda t: t.key)
        self.items_read += len(found)
        return found


def _still(stored: CommentInsight | None, previous: CommentInsight | None) -> bool:
    if previous is None:
        return stored is None
    return stored is not None and stored.version == previous.version
