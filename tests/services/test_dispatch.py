"""Dispatch on fakes: one survey per event, suppressions recorded with reasons, carrier errors named."""

import json

import pytest

from chalicelib.adapters.schema import read_message
from chalicelib.domain.model import SurveyStatus
from chalicelib.errors import InvalidEvent, RecipientOptedOut, RetryableSendError, UndeliverableRecipient
from tests.services.conftest import EVENTS, PHONE, event
from tests.services.test_send_survey import RecordingSender

SURVEY = "claims-2026-000123-paid"


def test_an_event_sends_one_invitation_and_records_the_survey(world):
    outcome = world.dispatch()
    assert outcome == {"survey_id": "claims-2026-000123-paid", "status": "sent",
                       "reason": "US:sms_two_way"}
    [sms] = world.sms.sent
    assert sms["to"] == PHONE and "Reply 0-10" in sms["body"] and "STOP" in sms["body"]
    assert sms["status_callback"] == "https://koe.example.com/api/twilio/status?survey=claims-2026-000123-paid"
    survey = world.store.get_survey("claims-2026-000123-paid")
    assert (survey.status, survey.message_sid) == (SurveyStatus.SENT, sms["sid"])
    assert survey.context["branch"] == "tokyo-chuo"
    assert world.store.get_contact(world.key()).active_survey_id == survey.survey_id


def test_the_invitation_is_in_the_customers_language(world):
    world.dispatch(customer={"locale": "ja-JP"})
    assert "停止" in world.sms.sent[0]["body"]


def test_the_same_event_twice_sends_once(world):
    world.dispatch()
    again = world.dispatch()
    assert again["reason"] == "duplicate_event"
    assert len(world.sms.sent) == 1


def test_an_interrupted_send_is_resumed_by_the_replay(world):
    world.sms.fail_with = RetryableSendError("twilio 20429")
    with pytest.raises(RetryableSendError):
        world.dispatch()
    assert world.store.get_survey("claims-2026-000123-paid").status is SurveyStatus.SENDING
    assert world.dispatch()["status"] == "sent"
    assert len(world.sms.sent) == 1


@pytest.mark.parametrize("setup, reason", [
    (lambda w: w.store.set_opt_out(w.key(), True, "sms:stop", w.clock()), "opted_out"),
    (lambda w: w.dispatch(event_id="earlier-policy", procedure="new_policy"), "conversation_open"),
])
def test_a_skipped_event_is_recorded_with_its_reason(world, setup, reason):
    setup(world)
    sent_before = len(world.sms.sent)
    outcome = world.dispatch()
    assert (outcome["status"], outcome["reason"]) == ("suppressed", reason)
    survey = world.store.get_survey("claims-2026-000123-paid")
    assert (survey.status, survey.reason) == (SurveyStatus.SUPPRESSED, reason)
    assert len(world.sms.sent) == sent_before


def test_cooldown_per_procedure(world):
    world.dispatch(event_id="first")
    world.reply("9 great")                      # closes the first conversation
    world.clock.advance(days=10)
    later = world.clock.now.isoformat()
    assert world.dispatch(event_id="second", completed_at=later)["reason"] == "cooldown"
    assert world.dispatch(event_id="third", completed_at=later, procedure="new_policy")["status"] == "sent"


def test_a_japanese_customer_gets_a_link_sms_to_the_web_survey(world):
    outcome = world.dispatch(customer={"phone": "+819012345678", "locale": "ja-JP"})
    assert (outcome["status"], outcome["reason"]) == ("sent", "JP:sms_link (line: none)")
    [sms] = world.sms.sent
    survey = world.store.get_survey("claims-2026-000123-paid")
    assert survey.channel == "sms_link" and world.link(survey) in sms["body"]
    assert sms["body"].startswith("Example Lifeです。") and "アンケート" in sms["body"]
    assert sms["status_callback"].endswith("?survey=claims-2026-000123-paid")


def test_a_chinese_speaking_customer_in_taiwan_without_email_gets_a_link_sms_with_the_opt_out_instruction(world):
    outcome = world.dispatch(customer={"phone": "+886912345678", "email": None, "locale": "zh-TW"})
    assert outcome["reason"] == "TW:sms_link (email: none)"
    assert "回复TD退订" in world.sms.sent[0]["body"]


def test_a_mainland_customer_without_china_sms_nor_email_senders_is_not_surveyed(world):
    # Twilio's link SMS is not used for mainland numbers: China SMS (Alibaba), then email.
    outcome = world.dispatch(customer={"phone": "+8613812345678", "email": "wang@example.com", "locale": "zh-CN"})
    assert outcome["reason"] == "no_supported_channel"
    reason = world.store.get_survey(outcome["survey_id"]).channel_reason
    assert reason == "CN:none (sms_cn: not available; wechat: none; email: not available)"
    assert world.sms.sent == []


def test_email_goes_to_the_email_sender_and_an_unsubscribed_address_falls_back(world):
    email = RecordingSender()
    world.extra_senders["email"] = email
    cn = {"phone": "+8613812345678", "email": "wang@example.com", "locale": "zh-CN"}
    assert world.dispatch(customer=cn)["reason"] == "CN:email (sms_cn: not available; wechat: none)"
    assert email.sent == [("claims-2026-000123-paid", "invitation")]
    world.store.set_opt_out(world.key("wang@example.com"), True, "email:unsubscribe", world.clock())
    world.dispatch(event_id="policy-2026-000400", procedure="new_policy", customer=cn)
    reason = world.store.get_survey("policy-2026-000400").channel_reason
    assert reason == "CN:none (sms_cn: not available; wechat: none; email: blocked)"


def test_an_email_only_customer_is_surveyed_by_email_and_their_unsubscribe_is_an_opt_out(world):
    world.extra_senders["email"] = RecordingSender()
    only_email = {"phone": None, "email": "hanako@example.jp", "locale": "ja-JP"}
    assert world.dispatch(customer=only_email)["reason"] == "no_phone:email"
    world.store.set_opt_out(world.key("hanako@example.jp"), True, "email:unsubscribe", world.clock())
    assert world.dispatch(event_id="policy-2026-000500", procedure="new_policy",
                          customer=only_email)["reason"] == "opted_out"


def test_opted_out_at_the_carrier_marks_the_contact(world):
    world.sms.fail_with = RecipientOptedOut("twilio 21610")
    outcome = world.dispatch()
    assert (outcome["status"], outcome["reason"]) == ("failed", "opted_out_at_carrier")
    contact = world.store.get_contact(world.key())
    assert contact.opted_out and not contact.has_open_conversation(world.clock())


def test_an_unreachable_number_fails_the_survey_and_frees_the_phone(world):
    world.sms.fail_with = UndeliverableRecipient("21614")
    assert world.dispatch()["reason"] == "twilio_21614"
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())


def test_read_message_accepts_both_queue_shapes_and_names_bad_fields():
    bare = (EVENTS / "procedure-completed.json").read_text()
    envelope = (EVENTS / "eventbridge-to-sqs.json").read_text()
    assert read_message(bare)["event_id"] == read_message(envelope)["event_id"]
    with pytest.raises(InvalidEvent, match="customer: needs a phone, an email or a LINE user id"):
        read_message(json.dumps({"event_id": "x", "procedure": "p", "completed_at": "2026-11-21T10:00:00Z",
                                 "customer": {"id": "C"}}))
    with pytest.raises(InvalidEvent, match="message"):
        read_message("not json")


def test_a_stale_event_is_suppressed(world):
    world.clock.advance(hours=80)
    assert world.dispatch()["reason"] == "stale_event"


def test_a_send_that_is_dead_lettered_ends_the_survey_and_frees_the_slot(world):
    """Repeated throttling until the last delivery: the survey must not hold the customer's slot."""
    from chalicelib.services.batch import QueueRecord, process
    from chalicelib.services.dispatch import dispatch_event, give_up
    from tests.fakes.messaging import FakeDeadLetters

    deps, letters = world.dispatch_deps, FakeDeadLetters()
    body = json.dumps(event())
    for attempt in (1, 2, 3, 4):
        world.sms.fail_with = RetryableSendError("twilio 20429")
        process([QueueRecord("m1", body, attempt)], lambda b: dispatch_event(json.loads(b), deps), letters, 4,
                on_dead_letter=lambda b, error: give_up(json.loads(b)["event_id"], error, deps))
    assert len(letters.letters) == 1
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.reason) == (SurveyStatus.FAILED, "dead_lettered:RetryableSendError")
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())
    assert world.dispatch(event_id="policy-2026-000300", procedure="new_policy")["status"] == "sent"


def test_giving_up_leaves_a_sent_or_unknown_survey_alone(world):
    from chalicelib.services.dispatch import give_up

    assert give_up("never-seen", RetryableSendError("x"), world.dispatch_deps) is None
    world.dispatch()
    assert give_up(SURVEY, RetryableSendError("x"), world.dispatch_deps) is None
    assert world.store.get_survey(SURVEY).status is SurveyStatus.SENT


def test_an_event_with_a_claim_still_open_is_suppressed_with_its_reason(world):
    outcome = world.dispatch(context={"branch": "tokyo-chuo", "claim_open": "true"})
    assert (outcome["status"], outcome["reason"]) == ("suppressed", "claim_open")
    assert world.sms.sent == []


def test_a_third_survey_within_the_cap_period_is_suppressed_as_fatigue(world):
    world.dispatch()
    world.reply("9")
    world.reply("fast")
    world.clock.advance(days=2)
    world.dispatch(event_id="policy-2026-000801", procedure="new_policy", completed_at=world.clock.now.isoformat())
    world.reply("8")
    world.reply("ok")
    world.clock.advance(days=2)
    third = world.dispatch(event_id="address-2026-000802", procedure="address_change",
                           completed_at=world.clock.now.isoformat())
    assert (third["status"], third["reason"]) == ("suppressed", "fatigue_cap")
    contact = world.store.get_contact(world.key())
    assert [p for p, _ in contact.surveyed] == ["claim_payment", "new_policy"]
