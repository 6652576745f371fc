"""One contract for the answer archive (the answers export's reads), run against the in-memory fake
and DynamoDB (on DynamoDB Local, through the responses table's by-month index), so the fake the
service tests rely on cannot drift. Answers are written where koe writes them: the conversation
store's update_survey and save_comment (or, in bulk, the same item conversion).

The tables are shared by the session: every test reads a year of its own (a period nobody else
writes in) and makes its own survey ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.exports import MONTH_SHARDS, Position, Selection, month_shard
from chalicelib.domain.model import Answer, Step, Survey, SurveyStatus
from chalicelib.services.ports import AnswerArchive, AnsweredSurvey, AnswerPeriod, ContactChange, ConversationStore
from chalicelib.settings import Settings, from_env
from tests.fakes.answers import FakeAnswerArchive
from tests.fakes.stores import FakeConversationStore
from tests.years import a_year_of_its_own

REQUIRED = {
    "KOE_PUBLIC_BASE_URL": "https://koe.test",
    "KOE_INTAKE_QUEUE_URL": "q", "KOE_INTAKE_DLQ_URL": "q", "KOE_FOLLOW_UP_QUEUE_URL": "q", "KOE_CX_TOPIC_ARN": "t",
}


@dataclass
class Harness:
    kind: str
    archive: AnswerArchive
    conversations: ConversationStore
    put: Callable[[Answer], Any]         # stores an answer as update_survey / save_comment would


@pytest.fixture(scope="module")
def dynamo_settings(local_aws: dict[str, str]) -> Settings:
    return from_env({**REQUIRED, **local_aws})


@pytest.fixture(params=["fake", "dynamo"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    if request.param == "fake":
        store = FakeConversationStore()
        yield Harness("fake", FakeAnswerArchive(store.answers, store.comment_threads), store,
                      lambda a: store.answers.__setitem__((a.survey_id, a.question), a))
        return
    from chalicelib.adapters.dynamo import DynamoAnswerArchive, DynamoConversationStore, configure
    from chalicelib.adapters.dynamo.survey_items import answer_to_item

    settings = request.getfixturevalue("dynamo_settings")
    configure(settings)             # another module may have bound the models to other tables since
    yield Harness("dynamo", DynamoAnswerArchive(settings), DynamoConversationStore(settings),
                  lambda a: answer_to_item(a, timedelta(days=400)).save())


class World:
    """A year nobody else uses, and survey ids of its own."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.year = a_year_of_its_own()

    def at(self, month: int = 3, day: int = 1, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
        return datetime(self.year, month, day, hour, minute, second, tzinfo=UTC)

    def survey_id(self, n: int) -> str:
        return f"sv-{self.tag}-{n:04d}"

    def score(self, n: int, at: datetime, **changes: Any) -> Answer:
        answer = Answer(survey_id=self.survey_id(n), question="score", received_at=at, procedure="claim_payment",
                        customer_id=f"C-{n}", locale="ja-JP", context={"branch": "tokyo-chuo", "agent_id": "A-102"},
                        score=n % 11, text=str(n % 11), threshold=6, phone_masked="+1******0101",
                        channel="sms_link", scale="nps", definition_version=1)
        return replace(answer, **changes)

    def comment(self, n: int, at: datetime, text: str = "窓口の対応が丁寧でした", **changes: Any) -> Answer:
        return replace(self.score(n, at, **changes), question="comment", text=text)

    def period(self, start: datetime, end: datetime, **where: Any) -> AnswerPeriod:
        return AnswerPeriod(start, end, **where)


@pytest.fixture
def world() -> World:
    return World()


def read(harness: Harness, period: AnswerPeriod) -> tuple[list[AnsweredSurvey], int]:
    """Everything the archive gives for the period, and the items it read doing so."""
    before = harness.archive.items_read
    found = list(harness.archive.answers_between(period))
    return found, harness.archive.items_read - before


def ids(found: list[AnsweredSurvey]) -> list[str]:
    return [a.score.survey_id.rsplit("-", 1)[1] for a in found]


def said(answered: AnsweredSurvey) -> str | None:
    """The one comment's words (None: no comment)."""
    assert len(answered.comments) <= 1
    return answered.comments[0].text if answered.comments else None


def test_the_periods_answered_surveys_in_order_across_shards_with_their_comments(harness: Harness,
                                                                                  world: World) -> None:
    start, end = world.at(3, 1, 0), world.at(3, 11, 0)
    inside = [(n, world.at(3, 1 + n % 10, n % 24, n)) for n in range(24)]
    for n, at in reversed(inside):
        harness.put(world.score(n, at))
        if n % 2 == 0:
            harness.put(world.comment(n, at + timedelta(minutes=2), text=f"コメント{n}"))
    # Around the period, in its month and shards and in the months beside it: never read.
    for n, at in ((100, start - timedelta(microseconds=1)), (101, end), (102, world.at(2, 28, 23)),
                  (103, world.at(4, 1, 0)), (104, world.at(3, 20))):
        harness.put(world.score(n, at))
        harness.put(world.comment(n, at))
    harness.put(world.comment(105, world.at(3, 5)))           # a comment alone is never a row

    found, items_read = read(harness, world.period(start, end))

    expected = sorted(inside, key=lambda pair: (pair[1], pair[0]))
    assert ids(found) == [f"{n:04d}" for n, _ in expected]
    assert all(a.score.question == "score" and a.score.received_at == at for a, (_, at) in zip(found, expected,
                                                                                               strict=True))
    assert {a.score.survey_id: said(a) for a in found} == {
        world.survey_id(n): (f"コメント{n}" if n % 2 == 0 else None) for n, _ in inside}
    assert items_read == 24 + 12              # the period's answers and their comments: nothing else
    assert len({month_shard(a.score.survey_id, a.score.received_at) for a in found}) >= MONTH_SHARDS // 2


def test_a_period_across_months_and_a_year_end_is_read_in_order(harness: Harness, world: World) -> None:
    times = [datetime(world.year, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), datetime(world.year + 1, 1, 1, tzinfo=UTC),
             datetime(world.year, 11, 30, 12, tzinfo=UTC), datetime(world.year + 1, 2, 2, tzinfo=UTC)]
    for n, at in enumerate(times):
        harness.put(world.score(n, at))
    found, items_read = read(harness, world.period(datetime(world.year, 11, 1, tzinfo=UTC),
                                                   datetime(world.year + 1, 3, 1, tzinfo=UTC)))
    assert ids(found) == ["0002", "0000", "0001", "0003"] and items_read == 4
    assert [a.score.received_at for a in found] == sorted(times)        # microseconds kept


def test_equal_times_order_by_survey_id_and_a_read_resumes_right_after_a_position(harness: Harness,
                                                                                  world: World) -> None:
    tie = world.at(3, 2, 10)
    for n in (7, 3, 9, 1, 5):
        harness.put(world.score(n, tie))
    harness.put(world.score(0, tie - timedelta(seconds=1)))
    harness.put(world.score(8, tie + timedelta(seconds=1)))
    period = world.period(world.at(3, 1, 0), world.at(4, 1, 0))
    found, _ = read(harness, period)
    assert ids(found) == ["0000", "0001", "0003", "0005", "0007", "0009", "0008"]

    resumed, _ = read(harness, replace(period, after=Position(tie, world.survey_id(3))))
    assert ids(resumed) == ["0005", "0007", "0009", "0008"]
    last, _ = read(harness, replace(period, after=Position(tie + timedelta(seconds=1), world.survey_id(8))))
    assert last == []


def test_the_selection_keeps_answers_before_their_comments_are_read(harness: Harness, world: World) -> None:
    at = world.at(3, 3)
    shapes: list[dict[str, Any]] = [
        {}, {"context": {"branch": "osaka-kita", "agent_id": "A-301"}}, {"procedure": "address_change"},
        {"channel": "email"}, {"locale": "en-US"}, {"scale": "csat", "score": 4},
        {"context": {"branch": "tokyo-chuo", "agent_id": "A-777"}}]
    for n, shape in enumerate(shapes):
        harness.put(world.score(n, at + timedelta(minutes=n), **shape))
        harness.put(world.comment(n, at + timedelta(minutes=n), **shape))
    period = world.period(world.at(3, 1, 0), world.at(4, 1, 0))

    def kept(**selection: str) -> tuple[list[str], int]:
        found, items_read = read(harness, replace(period, selection=Selection(**selection)))
        assert all(len(a.comments) == 1 and a.comments[0].survey_id == a.score.survey_id for a in found)
        return ids(found), items_read

    assert kept() == ([f"{n:04d}" for n in range(7)], 7 + 7)
    assert kept(branch="tokyo-chuo", agent_id="A-102") == (["0000", "0002", "0003", "0004", "0005"], 7 + 5)
    assert kept(branch="osaka-kita") == (["0001"], 7 + 1)
    assert kept(procedure="address_change") == (["0002"], 7 + 1)
    assert kept(channel="email", scale="nps") == (["0003"], 7 + 1)
    assert kept(locale="en-US") == (["0004"], 7 + 1)
    assert kept(scale="csat") == (["0005"], 7 + 1)
    assert kept(agent_id="A-999") == ([], 7)


def test_more_answers_than_one_batch_of_comments_all_come_with_their_comment(harness: Harness,
                                                                              world: World) -> None:
    start = world.at(5, 1, 0)
    for n in range(130):
        at = start + timedelta(minutes=n)
        harness.put(world.score(n, at))
        harness.put(world.comment(n, at + timedelta(days=40), text=f"c{n}"))     # answered later, in June
    found, items_read = read(harness, world.period(start, world.at(6, 1, 0)))
    assert [said(a) for a in found] == [f"c{n}" for n in range(130)]
    assert items_read == 130 + 130


def _survey(world: World, n: int, at: datetime) -> Survey:
    return Survey(survey_id=world.survey_id(n), procedure="claim_payment", customer_id=f"C-{n}",
                  contact_key=f"ck-{world.tag}-{n}", locale="ja-JP", channel="sms_two_way",
                  channel_reason="US:sms_two_way", status=SurveyStatus.DELIVERED, created_at=at, completed_at=at,
                  phone="+15550100123", context={"branch": "tokyo-chuo", "agent_id": "A-102"},
                  step=Step.AWAIT_SCORE, open_until=at + timedelta(days=1))


def test_answers_saved_by_the_conversation_store_are_read_with_every_comment(harness: Harness,
                                                                               world: World) -> None:
    """Before: the export read the survey's latest comment only."""
    at = world.at(7, 10)
    survey = _survey(world, 1, at - timedelta(hours=1))
    harness.conversations.open_survey(survey, at - timedelta(hours=1))
    answered = replace(survey, status=SurveyStatus.ANSWERED, step=Step.DONE, score=3, open_until=None)
    harness.conversations.update_survey(survey, answered, [world.score(1, at, score=3),
                                                           world.comment(1, at, text="遅い")],
                                        ContactChange(release=True), at)
    harness.conversations.save_comment(world.comment(1, at + timedelta(days=30), text="まだ連絡がない"))

    found, items_read = read(harness, world.period(world.at(7, 1, 0), world.at(8, 1, 0)))

    [answered_survey] = found
    assert answered_survey.score.score == 3
    assert [(c.text, c.received_at) for c in answered_survey.comments] == [
        ("遅い", at), ("まだ連絡がない", at + timedelta(days=30))]
    assert items_read == 2                    # the score and one comment item, whatever it holds


def test_only_score_items_carry_the_index_key(dynamo_settings: Settings, dynamodb_local: Any, world: World) -> None:
    from chalicelib.adapters.dynamo import configure
    from chalicelib.adapters.dynamo.survey_items import answer_to_item

    configure(dynamo_settings)
    at = world.at(8, 31, 23, 30)
    for answer in (world.score(1, at), world.comment(1, at)):
        answer_to_item(answer, timedelta(days=400)).save()
    raw = dynamodb_local.client()

    def item(question: str) -> dict[str, Any]:
        key = {"survey_id": {"S": world.survey_id(1)}, "question": {"S": question}}
        found: dict[str, Any] = raw.get_item(TableName=dynamo_settings.table_name("responses"), Key=key,
                                             ConsistentRead=True)["Item"]
        return found

    assert item("score")["month_shard"] == {"S": month_shard(world.survey_id(1), at)}
    assert item("score")["month_shard"]["S"].startswith(f"{world.year}-08#")
    assert "month_shard" not in item("comment")
