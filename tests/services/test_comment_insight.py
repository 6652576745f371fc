"""Comment insight on fakes: a comment goes from the responses stream to the insight queue, is read
once per version (a replay adds nothing; a replaced comment is read again and its count moves), is
counted per group and day, and the sentiment rule opens a case for a strongly negative comment on a
passive score, through the same case machinery as a low score."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.case_rules import CaseRules, Rules
from chalicelib.domain.cases import Severity
from chalicelib.domain.comment_insight import GroupKey, Insight, InsightRequest, Sentiment
from chalicelib.domain.model import Answer
from chalicelib.errors import AnalyserUnavailable, StorageThrottled, UnanalysableComment
from chalicelib.services.batch import QueueRecord
from chalicelib.services.comment_insight import InsightDeps, analyse_batch, request_insights
from chalicelib.services.on_answers import on_answers
from chalicelib.services.ports import CommentSaved
from tests.fakes.insights import FakeCommentAnalyser, FakeCommentSource, FakeInsightRequests, FakeInsightStore
from tests.services.conftest import World
from tests.services.conftest import test_case_policy as case_policy

SURVEY = "claims-2026-000123-paid"
RUDE = "The agent was rude and I waited an hour on hold."
KIND = "The agent called back and solved it, thank you."
DAY = "2026-11-21"        # the clock's day in Tokyo (01:20 UTC is 10:20 there)


@dataclass
class Insights:
    """The world of the survey loop (tests/services/conftest.World) with the insight pipeline."""

    world: World
    analyser: FakeCommentAnalyser = field(default_factory=FakeCommentAnalyser)
    store: FakeInsightStore = field(default_factory=FakeInsightStore)
    queue: FakeInsightRequests = field(default_factory=FakeInsightRequests)
    received: int = 0

    def __post_init__(self) -> None:
        self.analyser.reads.update({RUDE: Insight(Sentiment.NEGATIVE, -0.82, ("agent", "hour", "hold")),
                                    KIND: Insight(Sentiment.POSITIVE, 0.9, ("agent",))})

    @property
    def answer_deps(self):      # on_answers, with its one call to the insight queue wired
        return replace(self.world.answer_deps, request_insights=lambda answers: request_insights(answers, self.queue))

    @property
    def deps(self) -> InsightDeps:
        store = self.world.store
        return InsightDeps(comments=FakeCommentSource(store.answers, store.comment_threads), analyser=self.analyser,
                           store=self.store, dead_letters=self.world.dead_letters, answers=self.answer_deps,
                           reporting_tz=ZoneInfo("Asia/Tokyo"), clock=self.world.clock, max_receives=5)

    def answer(self, score: str, comment: str, survey_id: str = SURVEY) -> None:
        """The customer answers by SMS, and the responses stream hands the answers to on_answers."""
        phone = f"+1555010{sum(map(ord, survey_id)) % 10000:04d}"      # one customer per survey
        self.world.dispatch(event_id=survey_id, customer={"phone": phone})
        self.world.reply(score, sender=phone)
        self.world.reply(comment, sender=phone)
        on_answers(self.world.store.answers_for(survey_id), self.answer_deps)

    def add_comment(self, text: str, survey_id: str = SURVEY, after: timedelta = timedelta(hours=1)) -> None:
        """A later comment (the web page's second post) joins the first: a MODIFY on the stream."""
        old = self.world.store.answers[survey_id, "comment"]
        new = replace(old, text=text, received_at=old.received_at + after)
        assert self.world.store.save_comment(new) is CommentSaved.SAVED
        on_answers([new], self.answer_deps)

    def deliver(self, receive_count: int = 1) -> list[str]:
        """The queue's messages so far, as one SQS batch to analyse_comments."""
        records = []
        for request in self.queue.requests:
            self.received += 1
            records.append(QueueRecord(f"msg-{self.received}", request.to_body(), receive_count))
        self.queue.requests.clear()
        return analyse_batch(records, self.deps)

    def tally(self, dimension: str, value: str) -> dict[str, object]:
        t = self.store.tallies.get(GroupKey(dimension, DAY, value))
        return {"counts": dict(t.counts), "phrases": dict(t.phrases)} if t else {}


@pytest.fixture
def insights(world: World) -> Insights:
    return Insights(world)


def with_sentiment_rule(insights: Insights, below: float = -0.6, severity: Severity = Severity.HIGH) -> None:
    insights.world.case_policy = case_policy(
        rules=CaseRules(Rules(sentiment_below=below, sentiment_severity=severity)))


def test_a_comment_is_read_after_it_arrives_and_counted_in_its_groups(insights: Insights) -> None:
    insights.answer("8", RUDE)
    [request] = insights.queue.requests
    assert request.survey_id == SURVEY and "rude" not in request.to_body()       # no text on the queue
    assert insights.deliver() == []
    stored = insights.store.insights[SURVEY]
    assert (stored.sentiment, stored.score, stored.key_phrases, stored.text) == (
        Sentiment.NEGATIVE, -0.82, ("agent", "hour", "hold"), RUDE)
    assert (stored.survey_score, stored.branch, stored.agent_id, stored.day, stored.language) == (
        8, "tokyo-chuo", "A-102", DAY, "en")
    assert insights.analyser.calls == [(RUDE, "en")]
    assert insights.tally("agent", "A-102") == {"counts": {"negative": 1},
                                                "phrases": {"agent": 1, "hour": 1, "hold": 1}}
    assert insights.tally("procedure|branch=tokyo-chuo", "claim_payment")["counts"] == {"negative": 1}


def test_a_score_alone_asks_for_nothing_and_a_refusing_queue_stops_the_batch_at_its_comment(insights: Insights) -> None:
    insights.world.dispatch()
    insights.world.reply("9")
    on_answers(insights.world.store.answers_for(SURVEY), insights.answer_deps)
    assert insights.queue.requests == []
    insights.world.reply(KIND)
    insights.queue.refuse = True
    # the stream resumes from the score and its comment (one step): its scores count once
    assert on_answers(insights.world.store.answers_for(SURVEY), insights.answer_deps).resume_at == 0


def test_a_replayed_or_duplicated_message_is_read_once(insights: Insights) -> None:
    insights.answer("8", RUDE)
    request = insights.queue.requests[0]
    insights.queue.requests.extend([request])                     # SQS delivers it twice in one batch
    assert insights.deliver() == []
    insights.queue.requests.append(request)                       # and once more, later
    assert insights.deliver() == []
    assert len(insights.analyser.calls) == 1 and insights.store.saves == 1
    assert insights.tally("procedure", "claim_payment")["counts"] == {"negative": 1}


BOTH = f"{RUDE}\n{KIND}"          # a survey's comments as read together, oldest first


def test_a_later_comment_is_read_with_the_earlier_one_and_the_count_moves(insights: Insights) -> None:
    """Before: a later comment replaced the earlier one, which the analysis then never saw again."""
    insights.analyser.reads[BOTH] = Insight(Sentiment.MIXED, -0.1, ("agent", "hold"))
    insights.answer("8", RUDE)
    insights.deliver()
    insights.add_comment(KIND)
    assert insights.deliver() == []
    stored = insights.store.insights[SURVEY]
    assert (stored.text, stored.sentiment) == (BOTH, Sentiment.MIXED)
    assert insights.tally("agent", "A-102") == {"counts": {"mixed": 1}, "phrases": {"agent": 1, "hold": 1}}
    assert [text for text, _ in insights.analyser.calls] == [RUDE, BOTH]


def test_a_message_for_an_older_version_reads_the_comments_as_stored_now(insights: Insights) -> None:
    insights.answer("8", RUDE)
    insights.add_comment(KIND)                # both requests are on the queue before either is read
    assert insights.deliver() == []
    assert insights.analyser.calls == [(BOTH, "en")] and insights.store.insights[SURVEY].text == BOTH


def test_a_late_comment_is_read_but_kept_out_of_the_counts(insights: Insights) -> None:
    insights.answer("8", RUDE)
    late = replace(insights.world.store.answers[SURVEY, "comment"], late=True)
    insights.world.store.answers[SURVEY, "comment"] = late
    insights.world.store.comment_threads[SURVEY] = [late]
    insights.deliver()
    assert not insights.store.insights[SURVEY].counted and insights.store.tallies == {}


def test_the_sentiment_rule_opens_a_case_for_a_strongly_negative_comment_on_a_passive_score(insights: Insights) -> None:
    with_sentiment_rule(insights)
    insights.answer("8", RUDE)
    assert insights.world.cases.get_case(SURVEY) is None        # a passive: no case from the score
    insights.deliver()
    case = insights.world.cases.get_case(SURVEY)
    assert case is not None
    assert (case.reasons, case.severity, case.score, case.comment) == (("sentiment",), Severity.HIGH, 8, RUDE)
    assert str(case.owner) == "agent:A-102"
    assert len(insights.world.follow_ups.messages) == 1 and len(insights.world.alerts.published) == 1
    insights.queue.requests.append(InsightRequest(SURVEY, "replayed"))
    insights.store.insights.clear()                               # even re-read, no second case or alert
    insights.deliver()
    assert len(insights.world.follow_ups.messages) == 1 and len(insights.world.alerts.published) == 1


def test_without_the_rule_or_above_its_threshold_no_case_opens(insights: Insights) -> None:
    insights.answer("8", RUDE)
    insights.deliver()
    assert insights.world.cases.get_case(SURVEY) is None
    with_sentiment_rule(insights, below=-0.9)
    insights.answer("8", RUDE, survey_id="sv-2")
    insights.deliver()
    assert insights.world.cases.get_case("sv-2") is None


def test_on_a_case_already_open_the_sentiment_is_recorded_once_and_the_severity_rises(insights: Insights) -> None:
    with_sentiment_rule(insights, severity=Severity.CRITICAL)
    insights.answer("3", RUDE)                                    # a detractor: the score opened the case
    opened = insights.world.cases.get_case(SURVEY)
    assert opened is not None and (opened.reasons, opened.severity) == (("score",), Severity.NORMAL)
    insights.deliver()
    case = insights.world.cases.get_case(SURVEY)
    assert (case.reasons, case.severity, case.version) == (
        ("score", "sentiment"), Severity.CRITICAL, opened.version + 1)
    [entry] = [e for e in case.timeline if e.kind == "sentiment"]
    assert (entry.detail["sentiment"], entry.detail["score"], entry.detail["severity"]) == (
        "negative", "-0.82", "critical")
    assert "rude" not in str(entry.detail)                        # the comment is on the case, not in its timeline
    insights.queue.requests.append(InsightRequest(SURVEY, "again"))
    insights.store.insights.clear()
    insights.deliver()
    assert insights.world.cases.get_case(SURVEY).version == case.version      # recorded once per version


def test_a_throttled_analyser_retries_the_record_and_a_refused_comment_is_dead_lettered(insights: Insights) -> None:
    insights.answer("8", RUDE)
    insights.answer("9", KIND, survey_id="sv-2")
    insights.analyser.fail_with = AnalyserUnavailable("comprehend ThrottlingException")
    assert insights.deliver() == ["msg-1"]                        # the other record is stored all the same
    assert set(insights.store.insights) == {"sv-2"} and not insights.world.dead_letters.letters
    insights.queue.requests.append(InsightRequest(SURVEY, ""))
    insights.analyser.fail_with = UnanalysableComment("comprehend UnsupportedLanguageException")
    assert insights.deliver() == []
    [letter] = insights.world.dead_letters.letters
    assert "UnsupportedLanguage" in letter["reason"] and "rude" not in letter["reason"]


def test_an_unreadable_message_is_dead_lettered_and_a_vanished_comment_skipped(insights: Insights) -> None:
    records = [QueueRecord("m-1", "not json", 1), QueueRecord("m-2", InsightRequest("sv-gone", "v").to_body(), 1)]
    assert analyse_batch(records, insights.deps) == []
    [letter] = insights.world.dead_letters.letters
    assert letter["source_id"] == "m-1" and "InvalidInsightRequest" in letter["reason"]
    assert insights.analyser.calls == [] and insights.store.saves == 0


def test_a_comment_replaced_while_it_was_read_is_retried(insights: Insights) -> None:
    insights.answer("8", RUDE)
    insights.answer("9", KIND, survey_id="sv-2")

    def meanwhile() -> None:                                      # another invocation stored a newer version
        insights.store.insights[SURVEY] = replace(insights.store.insights.get(SURVEY) or _any(insights), version="v9")

    insights.store.before_save = meanwhile
    assert insights.deliver() == ["msg-1"]
    assert insights.store.insights["sv-2"].text == KIND


def test_a_failed_write_retries_the_batch_then_dead_letters_it_on_the_last_receive(insights: Insights) -> None:
    insights.answer("8", RUDE)

    def throttled() -> None:
        raise StorageThrottled("ProvisionedThroughputExceededException")

    insights.store.before_save = throttled
    request = insights.queue.requests[0]
    assert insights.deliver() == ["msg-1"] and not insights.store.insights
    insights.queue.requests.append(request)
    insights.store.before_save = throttled
    assert insights.deliver(receive_count=5) == []
    [letter] = insights.world.dead_letters.letters
    assert letter["reason"].startswith("gave up after 5 attempts: StorageThrottled")


def _any(insights: Insights) -> object:
    from chalicelib.domain.comment_insight import CommentInsight

    comment: Answer = insights.world.store.answers[SURVEY, "comment"]
    return CommentInsight.of(comment, Insight(Sentiment.NEUTRAL, 0.0), "en", ZoneInfo("UTC"), insights.world.clock())
