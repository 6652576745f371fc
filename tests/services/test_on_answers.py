"""Answers on fakes: scores aggregate once per batch; a case opens by the case rules, owned and
timed, exactly once; a later comment goes onto it; a re-survey's answer records recovery; a fault
stops the batch at the first answer not done, and the stream resumes from it."""

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.model import Answer, Counts
from chalicelib.domain.scoring import BucketKey
from chalicelib.errors import EnqueueFailed, PermanentError, RetryableError, StorageThrottled
from chalicelib.services.on_answers import Step, on_answers, steps_of
from tests.fakes.messaging import FakeAlerts
from tests.fakes.stores import FakeCaseStore, FakeScoreStore

SURVEY = "claims-2026-000123-paid"


def answers_of(world, survey_id=SURVEY):
    return world.store.answers_for(survey_id)


def test_a_promoter_counts_in_every_dimension_and_opens_no_case(world):
    world.dispatch()
    world.reply("9")
    on_answers(answers_of(world), world.answer_deps)
    rows = world.scores.read("agent", "2026-11-21", "2026-11-21")
    assert rows == [(BucketKey("agent", "2026-11-21", "A-102", "nps"), Counts(1, 1, 0, 0, 9, 81))]
    assert {d for (k, _) in world.scores.buckets for d in [k.dimension]} >= {
        "procedure", "branch", "agent", "channel", "locale", "agent|branch=tokyo-chuo"}
    assert world.cases.get_case(SURVEY) is None and not world.alerts.published


def test_a_retried_batch_counts_once(world):
    world.dispatch()
    world.reply("9")
    batch = answers_of(world)
    on_answers(batch, world.answer_deps)
    on_answers(batch, world.answer_deps)
    [(_, counts)] = world.scores.read("procedure", "2026-11-21", "2026-11-21")
    assert counts.n == 1


def test_a_batch_retried_after_a_failed_alert_or_bisected_counts_each_answer_once(world):
    """Before: the count was idempotent per batch token, and a batch retried with other records (a
    failed alert, Lambda's bisection) got a new token and counted again."""
    for n, (phone, reply) in enumerate([("+15550100101", "2"), ("+15550100102", "9"), ("+15550100103", "10")]):
        world.dispatch(event_id=f"ev-{n}", customer={"phone": phone})
        world.reply(reply, sender=phone)
    batch = [a for n in range(3) for a in answers_of(world, f"ev-{n}")]
    world.alerts.fail_next = True
    assert on_answers(batch, world.answer_deps).resume_at == 0   # counted, then the first alert failed
    on_answers(batch, world.answer_deps)                         # the whole batch again
    on_answers(batch[:1], world.answer_deps)                     # bisected: its first half ...
    on_answers(batch[1:], world.answer_deps)                     # ... and its second
    [(_, counts)] = world.scores.read("procedure", "2026-11-21", "2026-11-21")
    assert (counts.n, counts.promoters, counts.detractors) == (3, 2, 1)


def test_a_detractor_opens_one_case_one_follow_up_one_alert(world):
    world.dispatch()
    world.reply("3")
    on_answers(answers_of(world), world.answer_deps)
    on_answers(answers_of(world), world.answer_deps)      # a replay with another token
    case = world.cases.get_case(SURVEY)
    assert (case.score, case.customer_id, case.follow_up_queued, case.alert_published) == (3, "C-88123", True, True)
    assert len(world.follow_ups.messages) == 1 and len(world.alerts.published) == 1
    message = world.follow_ups.messages[0]
    assert (message["branch"], message["agent_id"], message["phone"]) == ("tokyo-chuo", "A-102", "+1******0123")


def test_the_comment_arriving_later_goes_onto_the_case(world):
    world.dispatch()
    world.reply("2")
    on_answers(answers_of(world), world.answer_deps)
    world.reply("nobody called me back")
    comment = [a for a in answers_of(world) if a.question == "comment"]
    on_answers(comment, world.answer_deps)
    assert world.cases.get_case(SURVEY).comment == "nobody called me back"
    assert [m["event"] for m in world.alerts.published] == ["opened", "comment"]
    assert world.alerts.published[1]["comment"] == "nobody called me back"
    assert [m["event"] for m in world.follow_ups.messages] == ["opened", "comment"]
    on_answers(comment, world.answer_deps)          # a replay: the same alert id, delivered once
    assert len(set(world.alerts.ids())) == 2
    assert [e.kind for e in world.cases.get_case(SURVEY).timeline] == ["opened", "comment"]


def test_a_comment_in_the_same_reply_is_in_the_alert(world):
    world.dispatch()
    world.reply("1 slow payout")
    on_answers(answers_of(world), world.answer_deps)
    assert world.alerts.published[0]["comment"] == "slow payout"


def test_an_alert_that_failed_is_sent_on_retry_without_a_second_follow_up(world):
    world.dispatch()
    world.reply("0")
    world.alerts.fail_next = True
    assert on_answers(answers_of(world), world.answer_deps).resume_at == 0     # the stream delivers it again
    on_answers(answers_of(world), world.answer_deps)
    assert len(world.follow_ups.messages) == 1 and len(world.alerts.published) == 1


def test_the_threshold_is_per_procedure(world):
    world.thresholds["claim_payment"] = 4
    world.dispatch()
    world.reply("5")
    on_answers(answers_of(world), world.answer_deps)
    assert world.cases.get_case(SURVEY) is None


def test_the_alert_carries_procedure_branch_agent_and_score_as_attributes(world):
    world.dispatch()
    world.reply("3")
    on_answers(world.store.answers_for(SURVEY), world.answer_deps)
    assert world.alerts.attributes == [{"procedure": "claim_payment", "branch": "tokyo-chuo", "severity": "normal",
                                        "event": "opened", "agent_id": "A-102", "score": "3"}]


def test_a_new_case_is_owned_by_the_agent_with_business_hour_deadlines(world):
    world.dispatch()
    world.reply("3")
    on_answers(answers_of(world), world.answer_deps)
    case = world.cases.get_case(SURVEY)
    assert str(case.owner) == "agent:A-102" and world.alerts.published[0]["to"] == ["agent:A-102"]
    assert case.opened_at < case.first_contact_due < case.resolution_due
    assert case.work_due_at == case.ladder[0].at


def test_a_flagged_comment_opens_a_case_for_a_passive_score(world):
    world.dispatch()
    world.reply("8 but I will cancel my policy if this happens again")
    on_answers(answers_of(world), world.answer_deps)
    case = world.cases.get_case(SURVEY)
    assert (case.severity.value, case.reasons) == ("high", ("keyword",))


def test_a_flagged_comment_arriving_later_raises_the_severity(world):
    world.dispatch()
    world.reply("3")
    on_answers(answers_of(world), world.answer_deps)
    world.reply("I want to file a complaint. Please call me")
    on_answers([a for a in answers_of(world) if a.question == "comment"], world.answer_deps)
    case = world.cases.get_case(SURVEY)
    assert (case.severity.value, case.reasons, case.callback_consent) == ("high", ("score", "keyword"), True)


def test_a_repeat_detractor_is_high_severity(world):
    world.dispatch()
    world.reply("3")
    on_answers(answers_of(world), world.answer_deps)
    world.clock.now += timedelta(days=40)
    world.dispatch(event_id="claims-2026-000777-paid", completed_at=world.clock.now.isoformat())
    world.reply("2")
    on_answers(answers_of(world, "claims-2026-000777-paid"), world.answer_deps)
    again = world.cases.get_case("claims-2026-000777-paid")
    assert (again.severity.value, again.reasons) == ("high", ("score", "repeat"))


def test_a_resurvey_answer_records_recovery_on_the_case_once(world):
    world.dispatch()
    world.reply("3")
    on_answers(answers_of(world), world.answer_deps)
    world.clock.now += timedelta(days=40)
    world.dispatch(event_id="resurvey-1", completed_at=world.clock.now.isoformat(),
                   context={"branch": "tokyo-chuo", "agent_id": "A-102", "resurvey_of": SURVEY})
    world.reply("8")
    answers = answers_of(world, "resurvey-1")
    on_answers(answers, world.answer_deps)
    on_answers(answers, world.answer_deps)      # a replay
    case = world.cases.get_case(SURVEY)
    assert case.recovered is True
    assert [e.kind for e in case.timeline].count("resurvey_answered") == 1


# --- every comment: none is lost to a later one ----------------------------------------------------

def _later(comment, text, seconds):
    return replace(comment, text=text, received_at=comment.received_at + timedelta(seconds=seconds))


def test_a_flagged_comment_followed_within_a_second_by_another_still_opens_the_case(world):
    """Before: a batch kept one comment per survey (its last), so a 解約 comment replaced within a
    second by another never reached the keyword rule."""
    world.dispatch(customer={"locale": "ja-JP"})
    world.reply("8 解約を考えています")
    score, comment = answers_of(world)
    second = _later(comment, "すみません、やっぱり大丈夫です", 1)

    on_answers([score, comment, second], world.answer_deps)

    case = world.cases.get_case(SURVEY)
    assert case is not None and "keyword" in case.reasons
    assert [(c.at, c.text) for c in case.comments] == [(comment.received_at, "解約を考えています"),
                                                        (second.received_at, "すみません、やっぱり大丈夫です")]
    assert [m["event"] for m in world.alerts.published] == ["opened", "comment"]
    assert [m["comment"] for m in world.alerts.published] == ["解約を考えています", "すみません、やっぱり大丈夫です"]


def test_each_later_comment_goes_onto_the_case_once_and_is_announced_once(world):
    world.dispatch()
    world.reply("2 slow")
    score, comment = answers_of(world)
    on_answers([score, comment], world.answer_deps)
    second, third = _later(comment, "nobody called", 60), _later(comment, "I will complain", 120)

    on_answers([second, third], world.answer_deps)
    on_answers([second, third], world.answer_deps)          # the stream delivers the batch again

    case = world.cases.get_case(SURVEY)
    assert [c.text for c in case.comments] == ["slow", "nobody called", "I will complain"]
    assert case.comment == "I will complain" and "keyword" in case.reasons
    assert [e.kind for e in case.timeline] == ["opened", "comment", "comment"]
    assert len(set(world.alerts.ids())) == 3                # opened, and one per later comment


def test_the_same_words_sent_again_later_are_another_comment(world):
    world.dispatch()
    world.reply("2 slow")
    score, comment = answers_of(world)
    on_answers([score, comment], world.answer_deps)

    on_answers([_later(comment, "slow", 3600)], world.answer_deps)

    assert [c.text for c in world.cases.get_case(SURVEY).comments] == ["slow", "slow"]
    assert len(set(world.alerts.ids())) == 2


# --- a fault stops the batch where it happened; the stream resumes from there --------------------

@dataclass
class RefusingAlerts(FakeAlerts):
    """The CX alert topic refusing the alerts of the cases in `refused`, with that error, until cleared."""

    refused: dict[str, Exception] = field(default_factory=dict)

    def publish(self, message: Any, attributes: Any) -> None:
        if message["case_id"] in self.refused:
            raise self.refused[message["case_id"]]
        super().publish(message, attributes)


@dataclass
class RefusingCases(FakeCaseStore):
    """The case store refusing to open the cases in `refused` (throttled), until cleared."""

    refused: set[str] = field(default_factory=set)

    def open_case(self, case: Any) -> bool:
        if case.case_id in self.refused:
            raise StorageThrottled("ProvisionedThroughputExceededException")
        return super().open_case(case)


class RefusingScores(FakeScoreStore):
    def count(self, items: Any, shards: int, now: datetime) -> int:
        raise StorageThrottled("TransactionConflict")


def answered(world, replies: dict[str, str]) -> list[Answer]:
    """Each survey dispatched to its own customer and answered with its reply; their answers, survey
    after survey, as the stream carries them."""
    for n, (survey_id, reply) in enumerate(replies.items()):
        phone = f"+155501002{n:02d}"
        world.dispatch(event_id=survey_id, customer={"phone": phone})
        world.reply(reply, sender=phone)
    return [a for survey_id in replies for a in answers_of(world, survey_id)]


def counted(world) -> int:
    [(_, counts)] = world.scores.read("procedure", "2026-11-21", "2026-11-21")
    return counts.n


def test_a_fault_at_an_answer_leaves_the_ones_before_it_done_and_the_batch_resumes_from_it(world):
    # Given three detractors, and a topic that refuses the second one's alert
    world.alerts = alerts = RefusingAlerts(refused={"ev-1": RetryableError("topic unavailable")})
    batch = answered(world, {"ev-0": "2", "ev-1": "3", "ev-2": "1"})
    # When the batch is processed
    progress = on_answers(batch, world.answer_deps)
    # Then it stopped at the second answer: the first is done, the third not started; every score counted
    assert (progress.answers, progress.resume_at, progress.cases_opened) == (3, 1, 1)
    assert [m["case_id"] for m in alerts.published] == ["ev-0"]
    assert world.cases.get_case("ev-2") is None and counted(world) == 3
    # When the stream resumes from the second answer's record, the topic back
    alerts.refused.clear()
    assert on_answers(batch[1:], world.answer_deps).resume_at is None
    # Then each case has its one alert and one follow-up, and each answer counts once
    assert sorted(m["case_id"] for m in alerts.published) == ["ev-0", "ev-1", "ev-2"]
    assert sorted(m["case_id"] for m in world.follow_ups.messages) == ["ev-0", "ev-1", "ev-2"]
    assert counted(world) == 3


def test_a_score_and_the_comment_that_came_with_it_are_resumed_together(world):
    """The comment reached the stream before its score, and the case could not be opened: the batch
    resumes from the comment. Resumed from the score alone, the passive 8 would open no case: the
    comment that flags it would be missing."""
    world.cases = RefusingCases(refused={"ev-1"})
    promoter, score, comment, detractor = answered(
        world, {"ev-0": "9", "ev-1": "8 but I will cancel my policy if this happens again", "ev-2": "2"})
    batch = [promoter, comment, score, detractor]
    assert on_answers(batch, world.answer_deps).resume_at == 1
    world.cases.refused.clear()
    assert on_answers(batch[1:], world.answer_deps).resume_at is None
    case = world.cases.get_case("ev-1")
    assert case is not None and case.reasons == ("keyword",) and case.comment == comment.text
    assert [m["event"] for m in world.alerts.published if m["case_id"] == "ev-1"] == ["opened"]
    assert world.cases.get_case("ev-2") is not None


def test_a_retry_past_a_score_reads_its_comment_again_without_announcing_the_case_twice(world):
    """The score and its comment lie apart, with other answers between: they are done as one small
    step, and a fault further on resumes the batch between them. The retry holds the comment alone:
    the case opened with it, so it is neither added again nor announced as a later comment."""
    world.alerts = alerts = RefusingAlerts(refused={"ev-1": RetryableError("topic unavailable")})
    score, comment, *others = answered(world, {"ev-0": "2 the agent never called back", "ev-1": "3", "ev-2": "1"})
    batch = [score, *others, comment]
    assert on_answers(batch, world.answer_deps).resume_at == 1       # ev-0 done with its comment; ev-1 failed
    alerts.refused.clear()
    assert on_answers(batch[1:], world.answer_deps).resume_at is None
    case = world.cases.get_case("ev-0")
    assert case is not None and [c.text for c in case.comments] == [comment.text]
    assert [m["event"] for m in alerts.published if m["case_id"] == "ev-0"] == ["opened"]
    assert [m["event"] for m in world.follow_ups.messages if m["case_id"] == "ev-0"] == ["opened"]


def test_when_the_scores_cannot_be_counted_nothing_is_done_and_the_batch_resumes_from_its_start(world):
    batch = answered(world, {"ev-0": "2", "ev-1": "9"})
    world.scores = RefusingScores()
    asked: list[Answer] = []
    deps = replace(world.answer_deps, request_insights=asked.extend)
    assert on_answers(batch, deps).resume_at == 0
    assert world.cases.cases == {} and world.alerts.published == [] and asked == []


def test_the_comments_of_the_answers_done_are_asked_for_when_a_later_one_stops_the_batch(world):
    world.alerts = RefusingAlerts(refused={"ev-1": RetryableError("topic unavailable")})
    batch = answered(world, {"ev-0": "2 slow", "ev-1": "3", "ev-2": "1 rude"})
    asked: list[Answer] = []
    progress = on_answers(batch, replace(world.answer_deps, request_insights=asked.extend))
    assert progress.resume_at == 2                                   # ev-1's score, after ev-0's score and comment
    assert [(a.survey_id, a.question) for a in asked] == [("ev-0", "score"), ("ev-0", "comment")]


def test_when_the_comments_insight_cannot_be_asked_for_the_batch_resumes_from_the_first_comment(world):
    batch = answered(world, {"ev-0": "9", "ev-1": "2 slow", "ev-2": "10 great"})

    def refusing(answers: list[Answer]) -> None:
        raise EnqueueFailed("comment-insight queue unavailable")

    progress = on_answers(batch, replace(world.answer_deps, request_insights=refusing))
    assert progress.resume_at == 1                                   # ev-1's score and comment: one step
    assert world.cases.get_case("ev-1") is not None                  # the cases are done all the same


def test_a_permanent_error_still_fails_the_whole_batch(world):
    world.alerts = RefusingAlerts(refused={"ev-1": PermanentError("the topic refuses this alert")})
    batch = answered(world, {"ev-0": "2", "ev-1": "3"})
    with pytest.raises(PermanentError):
        on_answers(batch, world.answer_deps)


AT = datetime(2026, 11, 21, 1, 25, tzinfo=UTC)


def an_answer(survey_id: str, question: str = "score", seconds: int = 0, text: str | None = None) -> Answer:
    return Answer(survey_id, question, AT + timedelta(seconds=seconds), "claim_payment", "C-88123", "en", {},
                  score=8, text=text if question == "score" else text or "a comment")


def test_steps_follow_the_stream_and_keep_a_score_with_its_comment():
    batch = [an_answer("a"), an_answer("a", "comment", 1), an_answer("b"), an_answer("c", "comment", 2),
             an_answer("a", "comment", 60), an_answer("d", "comment", 3, text=" ")]
    assert steps_of(batch) == [Step(0, scores=((0, 1),)), Step(2, scores=((2, None),)),
                               Step(3, later=(3,)), Step(4, later=(4,)), Step(5)]


def test_a_comment_ahead_of_its_score_joins_the_score_and_nothing_between():
    batch = [an_answer("a", "comment", 1), an_answer("b"), an_answer("a"), an_answer("c")]
    assert steps_of(batch) == [Step(0, scores=((2, 0),)), Step(1, scores=((1, None),)), Step(3, scores=((3, None),))]


def test_a_score_and_its_comment_far_apart_are_one_small_step_and_what_lies_between_is_its_own():
    batch = [an_answer("a"), *(an_answer(f"b{n}") for n in range(5)), an_answer("a", "comment", 9)]
    assert steps_of(batch) == [Step(0, scores=((0, 6),)), *(Step(n, scores=((n, None),)) for n in range(1, 6))]


def test_a_later_comment_ahead_of_its_score_waits_for_the_score():
    batch = [an_answer("a", "comment", 60), an_answer("a"), an_answer("a", "comment", 1)]
    assert steps_of(batch) == [Step(0, scores=((1, 2),), later=(0,))]


def test_an_empty_batch_has_no_steps_and_nothing_to_resume(world):
    assert steps_of([]) == []
    assert on_answers([], world.answer_deps).resume_at is None
