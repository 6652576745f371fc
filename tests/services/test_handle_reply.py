"""Replies on fakes: the conversation, keywords, replays, and messages with nowhere to go."""

from chalicelib.domain.model import Step, SurveyStatus
from chalicelib.services.ports import Inbound

SURVEY = "claims-2026-000123-paid"


def survey(world):
    return world.store.get_survey(SURVEY)


def test_score_then_why_then_thanks(world):
    world.dispatch()
    assert world.reply("9") == "Thank you. What is the main reason for your score?"
    assert survey(world).step is Step.AWAIT_COMMENT
    assert world.reply("the payout came fast").startswith("Thank you for your feedback")
    done = survey(world)
    assert (done.status, done.score, done.step) == (SurveyStatus.ANSWERED, 9, Step.DONE)
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())


def test_unreadable_reply_gets_one_reprompt(world):
    world.dispatch()
    assert world.reply("hmm not sure").startswith("Sorry, we could not read that")
    assert world.reply("８") == "Thank you. What is the main reason for your score?"
    assert survey(world).score == 8


def test_two_unreadable_replies_close_and_keep_the_text(world):
    world.dispatch()
    world.reply("hmm")
    world.reply("whatever")
    assert survey(world).status is SurveyStatus.UNREADABLE
    assert any(m.reason == "unreadable" and m.body == "whatever" for m in world.store.inbound)


def test_a_replayed_message_sid_changes_nothing_and_answers_the_same(world):
    world.dispatch()
    first = world.reply("9", sid="SM" + "a" * 32)
    again = world.reply("9", sid="SM" + "a" * 32)
    assert first == again
    assert survey(world).step is Step.AWAIT_COMMENT and survey(world).reprompts == 0


def test_stop_opts_out_everywhere_and_closes_the_conversation(world):
    world.dispatch()
    assert world.reply("STOP") is None              # Twilio's own handling confirms a STOP
    contact = world.store.get_contact(world.key())
    assert contact.opted_out and not contact.has_open_conversation(world.clock())
    assert survey(world).status is SurveyStatus.OPTED_OUT
    assert world.dispatch(event_id="next-claim", procedure="new_policy")["reason"] == "opted_out"


def test_japanese_stop_is_answered_in_japanese(world):
    world.dispatch(customer={"locale": "ja-JP"})
    assert "今後メッセージはお送りしません" in world.reply("停止")
    assert world.store.get_contact(world.key()).opted_out


def test_start_opts_back_in(world):
    world.reply("退订")
    assert world.store.get_contact(world.key()).opted_out
    world.reply("START")
    assert not world.store.get_contact(world.key()).opted_out


def test_help_answers_without_changing_anything(world):
    world.dispatch()
    assert "STOP" in world.reply("HELP")
    assert survey(world).step is Step.AWAIT_SCORE


def test_a_message_without_an_open_conversation_is_kept_for_cx(world):
    assert world.reply("who is this?") is None
    assert [(m.reason, m.body) for m in world.store.inbound] == [("no_open_conversation", "who is this?")]
    assert isinstance(world.store.inbound[0], Inbound)


def test_answers_carry_what_escalation_needs(world):
    world.thresholds["claim_payment"] = 7
    world.dispatch()
    world.reply("3 slow payout")
    answers = world.store.answers_for(SURVEY)
    assert [(a.question, a.score, a.threshold) for a in answers] == [("score", 3, 7), ("comment", 3, 7)]
    assert answers[0].context["agent_id"] == "A-102" and answers[0].phone_masked == "+1******0123"


def test_a_polite_stop_opts_out_everywhere_with_the_words_in_the_audit(world):
    world.dispatch()
    assert world.reply("Stop. Thanks").startswith("Example Life: you will receive no more messages")
    assert survey(world).status is SurveyStatus.OPTED_OUT
    assert world.store.get_contact(world.key()).opted_out
    assert world.store.opt_out_history[world.key()][-1]["audit"] == "sms:stop:Stop. Thanks"
    assert world.dispatch(event_id="policy-2026-000200", procedure="new_policy")["reason"] == "opted_out"


def test_a_lone_r_in_an_english_conversation_is_an_unreadable_reply_not_an_opt_out(world):
    world.dispatch()
    assert world.reply("R").startswith("Sorry, we could not read that")
    assert not world.store.get_contact(world.key()).opted_out


def test_a_lone_t_in_a_chinese_conversation_opts_out(world):
    world.dispatch(customer={"locale": "zh-CN"})
    world.reply("T")
    assert world.store.get_contact(world.key()).opted_out
    assert survey(world).status is SurveyStatus.OPTED_OUT
