"""LINE on fakes: the survey pushed with its scale's buttons, the conversation in the chat (a reply
while the token is usable, a push after), opt-outs of LINE alone (unfollow, a typed stop), and every
webhook event handled once.

Fictional data only: LINE user ids made up in LINE's shape (U + 32 hex), example.jp addresses."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.domain import line
from chalicelib.domain.line import LineEvent, LineEventKind
from chalicelib.domain.model import Step, SurveyStatus
from chalicelib.domain.questions import Definition, Definitions, Scale
from chalicelib.errors import ReplyTokenExpired, RetryableSendError
from chalicelib.services.handle_reply import InboundMessage, answer
from chalicelib.services.line_webhook import LineDeps, handle_event, handle_events
from chalicelib.services.send_survey import LineSurveySender
from tests.fakes.messaging import FakeLine
from tests.services.conftest import PHONE, World

SURVEY = "claims-2026-000123-paid"
LINE_ID = "U4af4980629e3b7d6c5f2a1b0c9d8e7f6"
JP_PHONE = "+819012345678"
WHY_JA = "ありがとうございます。その点数の一番の理由を教えてください。"
NPS_BUTTONS = tuple(str(n) for n in range(11))


@pytest.fixture
def fake_line() -> FakeLine:
    return FakeLine()


@pytest.fixture
def world(fake_line: FakeLine) -> World:
    """The service world with a LINE sender (as bootstrap builds it where KOE_LINE_SECRET_ID is set)."""
    built = World()
    built.extra_senders["line"] = LineSurveySender(fake_line, built.messages)
    return built


def deps(world: World, fake_line: FakeLine) -> LineDeps:
    return LineDeps(replies=world.reply_deps, line=fake_line, clock=world.clock)


def japanese(**customer: Any) -> dict[str, Any]:
    return {"customer": {"phone": JP_PHONE, "line_user_id": LINE_ID, "locale": "ja-JP", **customer}}


_ids = iter(range(1, 10_000))


def message(world: World, text: str | None, *, user: str = LINE_ID, age: timedelta = timedelta(0),
            redelivery: bool = False, event_id: str | None = None) -> LineEvent:
    """A `message` event as parse_webhook reads it, sent `age` before the world's now."""
    n = next(_ids)
    return LineEvent(LineEventKind.MESSAGE, "message", event_id or f"01LINEEVENT{n:015d}", world.clock() - age,
                     redelivery, user, f"reply-token-{n}", text, "text" if text is not None else "sticker")


def unfollow(world: World, *, user: str = LINE_ID, event_id: str = "01LINEUNFOLLOW00000000000") -> LineEvent:
    return LineEvent(LineEventKind.UNFOLLOW, "unfollow", event_id, world.clock(), False, user)


# --- the survey goes out on LINE --------------------------------------------------------------------

def test_a_japanese_customer_with_a_line_user_id_gets_the_survey_in_line_with_a_button_per_score(world, fake_line):
    outcome = world.dispatch(**japanese())
    assert (outcome["status"], outcome["reason"]) == ("sent", "JP:line")
    [push] = fake_line.pushed
    assert push["to"] == LINE_ID and push["choices"] == NPS_BUTTONS
    assert push["text"].startswith("Example Lifeです。保険金のお支払い手続きはいかがでしたか")
    assert push["retry_key"] == line.retry_key(SURVEY, "invitation")
    assert not world.sms.sent
    survey = world.store.get_survey(SURVEY)
    assert (survey.channel, survey.status, survey.message_sid) == ("line", SurveyStatus.SENT, push["request_id"])
    # The survey is keyed by the LINE user id's contact: LINE's opt-out and conversation are its own
    assert survey.contact_key == world.key(LINE_ID) and survey.line_user_id == LINE_ID
    assert world.store.get_contact(world.key(LINE_ID)).has_open_conversation(world.clock())
    assert world.store.get_contact(world.key(JP_PHONE)) is None


@pytest.mark.parametrize("scale, buttons", [("csat", ("1", "2", "3", "4", "5")),
                                            ("ces", ("1", "2", "3", "4", "5", "6", "7"))])
def test_the_buttons_are_the_surveys_scale(world, fake_line, scale, buttons):
    world.definitions = Definitions(by_procedure={"claim_payment": Definition(Scale(scale), 2)})
    world.dispatch(**japanese())
    [push] = fake_line.pushed
    assert push["choices"] == buttons and "10" not in push["text"]


def test_a_send_replayed_after_a_timeout_is_pushed_once(world, fake_line):
    # The retry key is the survey's and the message's: LINE delivers a replayed push once
    world.dispatch(**japanese())
    again = world.dispatch_deps.senders["line"].send(world.store.get_survey(SURVEY), "invitation")
    assert len(fake_line.pushed) == 1 and again == fake_line.pushed[0]["request_id"]


def test_without_a_line_user_id_or_a_line_sender_a_japanese_customer_gets_the_link_sms(world, fake_line):
    plain = {"customer": {"phone": JP_PHONE, "locale": "ja-JP"}}
    assert world.dispatch(event_id="a", **plain)["reason"] == "JP:sms_link (line: none)"
    del world.extra_senders["line"]
    world.dispatch(event_id="b", procedure="new_policy", **japanese())     # held off by "a": the rule is kept
    assert world.store.get_survey("b").channel_reason == "JP:sms_link (line: not available)"
    assert not fake_line.pushed


def test_a_customer_with_only_a_line_user_id_is_surveyed_on_line(world, fake_line):
    outcome = world.dispatch(customer={"phone": None, "email": None, "line_user_id": LINE_ID, "locale": "ja-JP"})
    assert (outcome["status"], outcome["reason"]) == ("sent", "no_phone:line")
    assert fake_line.pushed[0]["to"] == LINE_ID
    assert world.store.get_survey(SURVEY).contact_key == world.key(LINE_ID)


# --- the conversation in the chat -------------------------------------------------------------------

def test_score_then_why_then_thanks_by_reply_while_the_token_is_usable(world, fake_line):
    world.dispatch(**japanese())
    assert handle_event(message(world, "9"), deps(world, fake_line)) == "answered"
    assert fake_line.replied[-1]["text"] == WHY_JA and fake_line.replied[-1]["choices"] == ()
    assert world.store.get_survey(SURVEY).step is Step.AWAIT_COMMENT
    assert handle_event(message(world, "対応が早かった"), deps(world, fake_line)) == "answered"
    assert fake_line.replied[-1]["text"].startswith("ご回答ありがとうございました")
    done = world.store.get_survey(SURVEY)
    assert (done.status, done.score) == (SurveyStatus.ANSWERED, 9)
    assert {a.channel for a in world.store.answers.values()} == {"line"}
    assert not world.store.get_contact(world.key(LINE_ID)).has_open_conversation(world.clock())
    assert len(fake_line.pushed) == 1          # the invitation only: answers are free replies


def test_an_unreadable_answer_is_reprompted_with_the_buttons_again(world, fake_line):
    world.dispatch(**japanese())
    handle_event(message(world, "うーん"), deps(world, fake_line))
    assert fake_line.replied[-1]["text"].startswith("読み取れませんでした") and \
        fake_line.replied[-1]["choices"] == NPS_BUTTONS


def test_past_the_reply_tokens_minute_the_answer_is_pushed_with_a_key_of_the_survey_and_the_event(world, fake_line):
    world.dispatch(**japanese())
    late = message(world, "9", age=timedelta(seconds=55))
    assert handle_event(late, deps(world, fake_line)) == "pushed"
    assert not fake_line.replied
    push = fake_line.pushed[-1]
    assert (push["text"], push["retry_key"]) == (WHY_JA, line.retry_key(SURVEY, f"answer#{late.event_id}"))


@pytest.mark.parametrize("failure", [ReplyTokenExpired("line 400 invalid reply token"),
                                     RetryableSendError("line 429 rate limit")])
def test_a_reply_that_surely_failed_is_pushed_and_the_answer_is_kept(world, fake_line, failure):
    world.dispatch(**japanese())
    fake_line.fail_reply_with = failure
    assert handle_event(message(world, "3"), deps(world, fake_line)) == "pushed"
    assert fake_line.pushed[-1]["text"] == WHY_JA
    assert world.store.get_survey(SURVEY).score == 3


def test_a_reply_in_doubt_is_not_pushed_again_the_customer_may_have_it(world, fake_line):
    """LINE's reply API takes no retry key: after a 5xx or a timeout, a push could be a second copy."""
    world.dispatch(**japanese())
    pushed_before = len(fake_line.pushed)
    fake_line.fail_reply_with = RetryableSendError("line 500", in_doubt=True)
    assert handle_event(message(world, "3"), deps(world, fake_line)) == "in_doubt"
    assert len(fake_line.pushed) == pushed_before
    assert world.store.get_survey(SURVEY).score == 3


def test_when_line_takes_neither_the_reply_nor_the_push_the_answer_is_still_recorded(world, fake_line):
    world.dispatch(**japanese())
    fake_line.fail_reply_with = RetryableSendError("line 403", in_doubt=False)
    fake_line.fail_push_with = RetryableSendError("line 429 rate limit")
    assert handle_event(message(world, "2"), deps(world, fake_line)) == "not_answered"
    assert world.store.get_survey(SURVEY).score == 2


def test_a_redelivered_event_changes_nothing_and_is_not_answered_twice(world, fake_line):
    world.dispatch(**japanese())
    first = message(world, "9")
    handle_event(first, deps(world, fake_line))
    again = replace(first, redelivery=True)
    assert handle_event(again, deps(world, fake_line)) == "replayed"
    assert len(fake_line.replied) == 1 and len(fake_line.pushed) == 1
    survey = world.store.get_survey(SURVEY)
    assert (survey.step, survey.score, survey.reprompts) == (Step.AWAIT_COMMENT, 9, 0)


def test_a_redelivery_of_an_event_koe_never_handled_is_handled(world, fake_line):
    world.dispatch(**japanese())
    assert handle_event(message(world, "9", redelivery=True), deps(world, fake_line)) == "answered"
    assert world.store.get_survey(SURVEY).score == 9


def test_a_sticker_is_counted_and_left_unanswered(world, fake_line):
    world.dispatch(**japanese())
    assert handle_event(message(world, None), deps(world, fake_line)) == "not_text"
    assert not fake_line.replied and world.store.get_survey(SURVEY).reprompts == 0


def test_a_message_without_an_open_conversation_is_kept_for_cx_unanswered(world, fake_line):
    assert handle_event(message(world, "こんにちは"), deps(world, fake_line)) == "kept"
    [kept] = world.store.inbox.values()
    assert (kept.reason, kept.body, kept.contact_key) == ("no_open_conversation", "こんにちは", world.key(LINE_ID))
    assert not fake_line.replied


# --- opting out of LINE, and of LINE only ------------------------------------------------------------

def test_unfollow_opts_the_line_user_id_out_of_line_only_and_ends_its_survey(world, fake_line):
    world.dispatch(**japanese())
    assert handle_event(unfollow(world), deps(world, fake_line)) == "opted_out"
    assert world.store.get_contact(world.key(LINE_ID)).opted_out
    assert world.store.get_survey(SURVEY).status is SurveyStatus.OPTED_OUT
    assert not fake_line.replied and len(fake_line.pushed) == 1       # nothing is sent to a blocker
    # The phone is another address: the next survey goes there, by the link SMS, saying why
    outcome = world.dispatch(event_id="next-claim", procedure="new_policy", **japanese())
    assert (outcome["status"], outcome["reason"]) == ("sent", "JP:sms_link (line: blocked)")
    assert world.store.get_contact(world.key(JP_PHONE)) is None or \
        not world.store.get_contact(world.key(JP_PHONE)).opted_out


def test_an_unfollow_redelivered_changes_nothing(world, fake_line):
    world.dispatch(**japanese())
    handle_event(unfollow(world), deps(world, fake_line))
    assert handle_event(unfollow(world), deps(world, fake_line)) == "replayed"


@pytest.mark.parametrize("words", ["停止", "配信停止", "stop", "STOP"])
def test_a_stop_typed_in_line_opts_out_of_line_and_is_answered_there(world, fake_line, words):
    world.dispatch(**japanese())
    assert handle_event(message(world, words), deps(world, fake_line)) == "answered"
    assert "今後LINEでアンケートはお送りしません" in fake_line.replied[-1]["text"]
    assert world.store.get_contact(world.key(LINE_ID)).opted_out
    assert world.store.get_survey(SURVEY).status is SurveyStatus.OPTED_OUT


def test_a_start_typed_in_line_opts_back_in_to_line(world, fake_line):
    world.dispatch(**japanese())
    handle_event(unfollow(world), deps(world, fake_line))
    assert handle_event(message(world, "再開"), deps(world, fake_line)) == "answered"
    assert not world.store.get_contact(world.key(LINE_ID)).opted_out
    assert world.dispatch(event_id="next", procedure="new_policy", **japanese())["reason"] == "JP:line"


def test_a_stop_by_sms_opts_the_phone_out_and_leaves_line_alone(world, fake_line):
    world.dispatch(customer={"phone": PHONE, "locale": "en-US"})           # a US customer, by two-way SMS
    assert world.reply("STOP") is None
    assert world.store.get_contact(world.key(PHONE)).opted_out
    assert world.store.get_contact(world.key(LINE_ID)) is None
    reply = answer(InboundMessage("line", "01LINESTART0000000000000", LINE_ID, "HELP"), world.reply_deps)
    assert reply is not None and reply.key == "help" and "STOP" in reply.text and not reply.changed


# --- one person, one conversation and one fatigue record across addresses ---------------------------

def test_an_open_line_conversation_holds_off_a_survey_by_sms_and_the_history_counts_across_addresses(world):
    world.dispatch(**japanese())
    # LINE blocked meanwhile would send the next one by SMS: the open LINE conversation holds it off
    world.store.set_opt_out(world.key(LINE_ID), True, "test", world.clock())
    assert world.dispatch(event_id="second", procedure="new_policy", **japanese())["reason"] == "conversation_open"
    # Once that conversation ends, the cool-down of the LINE survey still applies to the phone
    world.clock.advance(days=2)
    world.store.set_opt_out(world.key(LINE_ID), False, "test", world.clock())
    answer(InboundMessage("line", "01LINEANSWER000000000000", LINE_ID, "9 早かった"), world.reply_deps)
    world.store.set_opt_out(world.key(LINE_ID), True, "test", world.clock())
    later = world.clock.now.isoformat()
    assert world.dispatch(event_id="third", completed_at=later, **japanese())["reason"] == "cooldown"


def test_handle_events_counts_each_outcome(world, fake_line):
    world.dispatch(**japanese())
    outcomes = handle_events([message(world, "9"), message(world, None), unfollow(world)], deps(world, fake_line))
    assert outcomes == {"answered": 1, "not_text": 1, "opted_out": 1}
