"""The conversation: score -> why -> thanks; one re-prompt; a comment with the score ends it."""

from dataclasses import replace
from datetime import UTC, datetime

from chalicelib.domain.conversation import next_turn
from chalicelib.domain.model import Step, Survey, SurveyStatus

NOW = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
SURVEY = Survey(survey_id="ev-1", procedure="claim_payment", customer_id="C-1", contact_key="k",
                locale="en", channel="sms_two_way", channel_reason="two_way_sms_supported:US",
                status=SurveyStatus.SENT, created_at=NOW, completed_at=NOW, phone="+15550100123")


def test_a_score_alone_asks_why():
    turn = next_turn(SURVEY, "9")
    assert (turn.reply, turn.step, turn.score, turn.closes) == ("why", Step.AWAIT_COMMENT, 9, False)
    assert [r.question for r in turn.recorded] == ["score"]
    assert turn.status is SurveyStatus.DELIVERED          # a reply proves delivery


def test_a_score_with_a_comment_ends_the_conversation():
    turn = next_turn(SURVEY, "3 slow payout")
    assert (turn.reply, turn.status, turn.closes) == ("thanks", SurveyStatus.ANSWERED, True)
    assert [(r.question, r.score, r.text) for r in turn.recorded] == [
        ("score", 3, "3 slow payout"), ("comment", 3, "slow payout")]


def test_the_comment_step_takes_any_text_and_thanks():
    waiting = replace(SURVEY, step=Step.AWAIT_COMMENT, score=9)
    turn = next_turn(waiting, "  fast payout ")
    assert (turn.reply, turn.status, turn.closes) == ("thanks", SurveyStatus.ANSWERED, True)
    assert [(r.question, r.score, r.text) for r in turn.recorded] == [("comment", 9, "fast payout")]


def test_an_unreadable_reply_is_reprompted_once_then_kept_for_cx():
    first = next_turn(SURVEY, "pretty good I guess")
    assert (first.reply, first.reprompts, first.recorded, first.closes) == ("reprompt", 1, (), False)
    second = next_turn(replace(SURVEY, reprompts=1), "meh")
    assert (second.status, second.closes, second.unread_text) == (SurveyStatus.UNREADABLE, True, "meh")


def test_out_of_range_is_unreadable():
    assert next_turn(SURVEY, "11").reply == "reprompt"
