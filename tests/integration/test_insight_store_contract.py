"""One contract for the comment-insight store and the comment source, run against the in-memory fakes
and DynamoDB (on DynamoDB Local), so the fakes the service tests rely on cannot drift.

The tables are shared by the module: every test makes its own survey ids, procedures, branches and
agents, and reads its own period (a year of its own).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.comment_insight import (
    PHRASES_KEPT,
    CommentInsight,
    GroupKey,
    Insight,
    InsightChange,
    Sentiment,
)
from chalicelib.domain.model import Answer
from chalicelib.domain.scoring import NO_VALUE
from chalicelib.services.ports import CommentQuery, CommentSource, InsightStore
from chalicelib.settings import Settings, from_env
from tests.fakes.insights import FakeCommentSource, FakeInsightStore
from tests.years import a_year_of_its_own

UTC_ZONE = ZoneInfo("UTC")
REQUIRED = {
    "KOE_PUBLIC_BASE_URL": "https://koe.test",
    "KOE_INTAKE_QUEUE_URL": "q", "KOE_INTAKE_DLQ_URL": "q", "KOE_FOLLOW_UP_QUEUE_URL": "q", "KOE_CX_TOPIC_ARN": "t",
}


@dataclass
class Harness:
    kind: str
    store: InsightStore
    source: CommentSource
    put_comment: Any         # stores an Answer where the source reads it


@pytest.fixture(scope="module")
def dynamo_settings(local_aws: dict[str, str]) -> Settings:
    from chalicelib.adapters import dynamo

    settings = from_env({**REQUIRED, **local_aws})
    dynamo.configure(settings)
    return settings


@pytest.fixture(params=["fake", "dynamo"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "fake":
        answers: dict[tuple[str, str], Answer] = {}
        threads: dict[str, list[Answer]] = {}

        def add(answer: Answer) -> None:          # as the conversation store adds a comment
            threads.setdefault(answer.survey_id, []).append(answer)
            answers[answer.survey_id, answer.question] = answer

        yield Harness("fake", FakeInsightStore(), FakeCommentSource(answers, threads), add)
        return
    from chalicelib.adapters.dynamo import DynamoCommentSource, DynamoInsightStore, ResponseItem, configure
    from chalicelib.adapters.dynamo.survey_items import comment_added

    settings = request.getfixturevalue("dynamo_settings")
    configure(settings)             # another module may have bound the models to other tables since
    yield Harness("dynamo", DynamoInsightStore(settings), DynamoCommentSource(settings),
                  lambda a: ResponseItem(a.survey_id, "comment").update(actions=comment_added(a, timedelta(days=400))))


class World:
    """Fresh names per test: a year, a procedure, branches and agents nobody else uses."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.tag = tag
        self.year = a_year_of_its_own()
        self.procedure = f"claim-{tag}"

    def at(self, day: int = 1, hour: int = 9) -> datetime:
        return datetime(self.year, 3, day, hour, tzinfo=UTC)

    def answer(self, n: int, text: str = "The payout was slow.", *, day: int = 1, hour: int = 9, branch: str = "b1",
               agent: str = "a1", late: bool = False) -> Answer:
        return Answer(survey_id=f"sv-{self.tag}-{n}", question="comment", received_at=self.at(day, hour),
                      procedure=self.procedure, customer_id=f"C-{n}", locale="en",
                      context={"branch": f"{branch}-{self.tag}", "agent_id": f"{agent}-{self.tag}"},
                      score=7, text=text, threshold=6, phone_masked="+1******0101", late=late, channel="sms_two_way")

    def insight(self, n: int, sentiment: Sentiment = Sentiment.NEGATIVE, phrases: tuple[str, ...] = ("payout",),
                **where: Any) -> CommentInsight:
        score = {"positive": 0.7, "neutral": 0.0, "negative": -0.7, "mixed": 0.1}[sentiment.value]
        return CommentInsight.of(self.answer(n, **where), Insight(sentiment, score, phrases), "en", UTC_ZONE,
                                 self.at(28))

    def period(self, first: int = 1, last: int = 28) -> tuple[str, str]:
        return self.at(first).date().isoformat(), self.at(last).date().isoformat()

    def query(self, **filters: Any) -> CommentQuery:
        return CommentQuery(self.at(1, 0), self.at(28, 0), **filters)


@pytest.fixture
def world() -> World:
    return World()


def counts(store: InsightStore, dimension: str, world: World, value: str | None = None) -> dict[str, dict[str, int]]:
    found: dict[str, dict[str, int]] = {}
    for tally in store.groups(dimension, *world.period(), value):
        row = found.setdefault(tally.key.value, {})
        for sentiment, n in tally.counts.items():
            row[sentiment] = row.get(sentiment, 0) + n
    return found


def test_a_new_insight_is_stored_whole_and_counted_in_its_groups(harness: Harness, world: World) -> None:
    new = world.insight(1, phrases=("payout", "claim form"))
    assert harness.store.save([InsightChange(None, new)]) == set()
    assert harness.store.get(new.survey_id) == new
    assert harness.store.get(f"sv-{world.tag}-none") is None
    assert counts(harness.store, "procedure", world) == {world.procedure: {"negative": 1}}
    [tally] = harness.store.groups(f"agent|branch=b1-{world.tag}", *world.period())
    assert (tally.key, tally.phrases, tally.version) == (
        GroupKey(f"agent|branch=b1-{world.tag}", world.at().date().isoformat(), f"a1-{world.tag}"),
        {"payout": 1, "claim form": 1}, 1)


def test_the_comments_without_an_agent_or_a_branch_are_counted_and_read_as_their_own_group(
        harness: Harness, world: World) -> None:
    with_agent = world.insight(1)
    no_agent = replace(world.insight(2, Sentiment.POSITIVE), agent_id=None)
    nowhere = replace(world.insight(3, Sentiment.NEUTRAL), agent_id=None, branch=None)
    assert harness.store.save([InsightChange(None, i) for i in (with_agent, no_agent, nowhere)]) == set()
    assert harness.store.get(nowhere.survey_id) == nowhere
    assert counts(harness.store, f"agent|branch=b1-{world.tag}", world) == {
        f"a1-{world.tag}": {"negative": 1}, NO_VALUE: {"positive": 1}}
    assert counts(harness.store, "agent", world) == {
        f"a1-{world.tag}": {"negative": 1}, NO_VALUE: {"positive": 1, "neutral": 1}}
    assert counts(harness.store, "branch", world)[NO_VALUE] == {"neutral": 1}
    assert counts(harness.store, "agent", world, NO_VALUE) == {NO_VALUE: {"positive": 1, "neutral": 1}}


def test_the_same_version_again_is_a_conflict_and_counts_nothing(harness: Harness, world: World) -> None:
    new = world.insight(1)
    harness.store.save([InsightChange(None, new)])
    assert harness.store.save([InsightChange(None, new)]) == {new.survey_id}
    assert counts(harness.store, "procedure", world) == {world.procedure: {"negative": 1}}


def test_a_replaced_version_moves_the_count_and_a_stale_replacement_is_a_conflict(harness: Harness,
                                                                                  world: World) -> None:
    first = world.insight(1)
    second = replace(world.insight(1, Sentiment.POSITIVE, ("agent",), day=2), version="v2")
    harness.store.save([InsightChange(None, first)])
    assert harness.store.save([InsightChange(first, second)]) == set()
    assert harness.store.get(first.survey_id) == second
    assert counts(harness.store, "procedure", world) == {world.procedure: {"positive": 1}}
    days = {t.key.day: (dict(t.counts), dict(t.phrases)) for t in harness.store.groups("procedure", *world.period())}
    assert days == {world.at(1).date().isoformat(): ({}, {}), world.at(2).date().isoformat(): (
        {"positive": 1}, {"agent": 1})}
    assert harness.store.save([InsightChange(first, replace(second, version="v3"))]) == {first.survey_id}


def test_in_a_batch_only_the_conflicting_change_is_left_out(harness: Harness, world: World) -> None:
    taken = world.insight(1)
    harness.store.save([InsightChange(None, taken)])
    fresh = world.insight(2, Sentiment.POSITIVE)
    assert harness.store.save([InsightChange(None, replace(taken, version="other")), InsightChange(None, fresh)]) == {
        taken.survey_id}
    assert harness.store.get(fresh.survey_id) == fresh and harness.store.get(taken.survey_id) == taken
    assert counts(harness.store, "procedure", world) == {world.procedure: {"negative": 1, "positive": 1}}


def test_a_late_comment_is_stored_and_not_counted(harness: Harness, world: World) -> None:
    late = world.insight(1, late=True)
    harness.store.save([InsightChange(None, late)])
    assert harness.store.get(late.survey_id) == late and counts(harness.store, "procedure", world) == {}


def test_a_batch_larger_than_one_transaction_is_stored_whole(harness: Harness, world: World) -> None:
    batch = [InsightChange(None, world.insight(n, branch=f"b{n}", agent=f"a{n}")) for n in range(16)]
    assert harness.store.save(batch) == set()       # 16 insights + 16 x 6 own groups + 3 shared > 100
    assert counts(harness.store, "procedure", world) == {world.procedure: {"negative": 16}}
    assert all(harness.store.get(c.new.survey_id) == c.new for c in batch)


def test_the_phrase_map_stays_bounded(harness: Harness, world: World) -> None:
    batch = [InsightChange(None, world.insight(n, phrases=tuple(f"p{n}-{k}" for k in range(5)))) for n in range(6)]
    harness.store.save(batch)
    [tally] = harness.store.groups("procedure", *world.period())
    assert len(tally.phrases) == PHRASES_KEPT and tally.n == 6


def test_the_newest_comments_by_scope_filter_and_period(harness: Harness, world: World) -> None:
    harness.store.save([InsightChange(None, c) for c in (
        world.insight(1, day=3, hour=8),
        world.insight(2, Sentiment.POSITIVE, day=3, hour=9),
        world.insight(3, day=4, branch="b2", agent="a2"),
        world.insight(4, day=5, agent="a3"),
        world.insight(5, day=28, hour=0),            # the period's end: excluded
    )])

    def ids(**filters: Any) -> list[str]:
        return [i.survey_id.rsplit("-", 1)[-1] for i in harness.store.latest(world.query(**filters))]

    assert ids(procedure=world.procedure) == ["4", "3", "2", "1"]
    assert ids(procedure=world.procedure, limit=2) == ["4", "3"]
    assert ids(branch=f"b1-{world.tag}") == ["4", "2", "1"]
    assert ids(branch=f"b1-{world.tag}", sentiment="negative") == ["4", "1"]
    assert ids(agent_id=f"a1-{world.tag}") == ["2", "1"]
    assert ids(agent_id=f"a3-{world.tag}", branch=f"b2-{world.tag}") == []
    assert ids(agent_id=f"a2-{world.tag}", procedure="another") == []


def test_one_values_groups_are_its_days_alone(harness: Harness, world: World) -> None:
    harness.store.save([InsightChange(None, c) for c in (
        world.insight(1, day=1), world.insight(2, day=2), world.insight(3, day=2, branch="b2", agent="a2"))])
    mine = harness.store.groups("branch", *world.period(), f"b1-{world.tag}")
    assert [(t.key.day[-2:], t.n) for t in mine] == [("01", 1), ("02", 1)]
    assert harness.store.groups("branch", *world.period(3, 28), f"b1-{world.tag}") == []
    assert counts(harness.store, "agent", world, f"a2-{world.tag}") == {f"a2-{world.tag}": {"negative": 1}}


def test_the_comment_source_reads_every_stored_comment_oldest_first(harness: Harness, world: World) -> None:
    first = world.answer(1, "The payout was slow.")
    harness.put_comment(first)
    assert harness.source.comments(first.survey_id) == [first]
    later = replace(first, text="Sorted now, thanks.", received_at=first.received_at + timedelta(hours=2))
    harness.put_comment(later)
    assert harness.source.comments(first.survey_id) == [first, later]
    assert harness.source.comments(f"sv-{world.tag}-none") == []


# --- DynamoDB only: what the fake does not model --------------------------------------------------

@pytest.fixture
def dynamo_store(dynamo_settings: Settings) -> Any:
    from chalicelib.adapters.dynamo import DynamoInsightStore, configure

    configure(dynamo_settings)
    return DynamoInsightStore(dynamo_settings)


def test_insights_and_counters_expire_like_the_answers(dynamo_store: Any, world: World) -> None:
    from chalicelib.adapters.dynamo.insight_items import CommentGroupItem, CommentInsightItem

    new = world.insight(1)
    dynamo_store.save([InsightChange(None, new)])
    item = CommentInsightItem.get(new.survey_id)
    assert item.expires_at == new.received_at + timedelta(days=400)
    group = CommentGroupItem.get("procedure", f"{new.day}#{world.procedure}")
    assert group.expires_at == datetime(world.year, 3, 2, tzinfo=UTC) + timedelta(days=400)


def test_counts_stay_exact_when_another_batch_moves_the_same_group_in_between(dynamo_store: Any,
                                                                              dynamo_settings: Settings,
                                                                              world: World) -> None:
    from chalicelib.adapters.dynamo import DynamoInsightStore

    other = DynamoInsightStore(dynamo_settings)
    read = dynamo_store._tallies
    raced = []

    def read_then_lose_the_race(keys: list[GroupKey]) -> Any:
        found = read(keys)
        if not raced:                   # after our read, before our write: another batch writes
            raced.append(other.save([InsightChange(None, world.insight(2, Sentiment.POSITIVE))]))
        return found

    dynamo_store._tallies = read_then_lose_the_race
    assert dynamo_store.save([InsightChange(None, world.insight(1))]) == set()
    assert raced == [set()]
    assert counts(dynamo_store, "procedure", world) == {world.procedure: {"negative": 1, "positive": 1}}
