"""Email surveys on fakes: the channel policy picks email once its sender is registered (China with an
address; customers without a phone); the EmailSurveySender renders the email templates with 11 score
links and an unsubscribe link and hands them to the transport; what the transport answers is recorded
by the one send path; SES's bounces and complaints, and the unsubscribe link, opt the address's own
contact out of email, after which dispatch falls back to the next channel or suppresses."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.adapters.pages import JinjaPages
from chalicelib.domain import survey_token
from chalicelib.domain.email_feedback import SURVEY_TAG, survey_tag
from chalicelib.domain.model import SurveyStatus
from chalicelib.errors import RecipientOptedOut, RetryableSendError, UndeliverableRecipient
from chalicelib.services.email_feedback import FeedbackDeps, record_feedback
from chalicelib.services.tick import tick
from chalicelib.services.unsubscribe import AUDIT, UnsubscribeDeps, show, unsubscribe
from chalicelib.settings import REPO_ROOT
from tests.fakes.messaging import FakeEmail
from tests.services.conftest import SECRET, World, links_of

EVENTS = Path(__file__).resolve().parents[1] / "events"
CN_PHONE = "+8613800138000"              # a sample number of China Mobile's
ADDRESS = "li.mei@example.com"
SURVEY = "claims-2026-000123-paid"
KEY = survey_token.link_key(SECRET)


unsubscribe_link = World.unsubscribe_link


@pytest.fixture
def world(email: FakeEmail) -> World:
    w = World()
    w.send_email_through(email)
    return w


def cn_customer(**changes):
    return {"customer": {"phone": CN_PHONE, "email": ADDRESS, "locale": "zh-CN", **changes}}


def email_only(**changes):
    return {"customer": {"phone": None, "email": ADDRESS, "locale": "ja-JP", **changes}}


def feedback_deps(world: World) -> FeedbackDeps:
    return FeedbackDeps(store=world.store, contact_key=world.key, clock=world.clock)


def unsubscribe_deps(world: World) -> UnsubscribeDeps:
    return UnsubscribeDeps(store=world.store, pages=JinjaPages(REPO_ROOT / "templates", "Example Life"),
                           links=links_of(KEY), contact_key=world.key, clock=world.clock)


def sample(name: str) -> str:
    return (EVENTS / name).read_text(encoding="utf-8")


def bounce_of(address: str, bounce_type: str = "Permanent") -> str:
    body = json.loads(sample("ses-event-bounce-permanent.json"))
    body["bounce"]["bounceType"] = bounce_type
    body["bounce"]["bouncedRecipients"][0]["emailAddress"] = address
    return json.dumps(body)


# --- choosing and sending email -----------------------------------------------------------------------

def test_a_chinese_customer_with_an_address_is_surveyed_by_email_in_chinese(world, email):
    outcome = world.dispatch(**cn_customer())

    assert outcome == {"survey_id": SURVEY, "status": "sent",
                       "reason": "CN:email (sms_cn: not available; wechat: none)"}
    (sent,) = email.sent
    assert sent.to == ADDRESS
    assert sent.content.subject == "【Example Life】关于您的理赔付款的1分钟满意度调查"
    assert '<html lang="zh-Hans">' in sent.content.html
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.channel) == (SurveyStatus.SENT, "email")
    assert survey.message_sid == "0106019a00000001-ses-message-id-000000"      # SES's message id
    assert world.sms.sent == []


def test_the_email_carries_eleven_score_links_to_the_survey_and_its_unsubscribe_link(world, email):
    world.dispatch(**cn_customer())
    (sent,) = email.sent
    survey = world.store.get_survey(SURVEY)
    page = World.link(survey)
    scores = [href for href in _hrefs(sent.content.html) if href.startswith(page + "?")]
    assert [parse_qs(urlsplit(h).query)["score"] for h in scores] == [[str(n)] for n in range(11)]
    assert sent.unsubscribe_url == unsubscribe_link(survey) in _hrefs(sent.content.html)
    token = sent.unsubscribe_url.rsplit("/", 1)[1]
    assert links_of(KEY)().verify(token, "unsubscribe") == SURVEY
    with pytest.raises(survey_token.TamperedToken):
        links_of(KEY)().verify(token)               # not a survey link: another purpose


def _hrefs(html: str) -> list[str]:
    import re

    return [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', html)]


def test_a_customer_without_a_phone_is_surveyed_by_email(world, email):
    assert world.dispatch(**email_only())["reason"] == "no_phone:email"
    assert email.sent[0].content.subject.startswith("【Example Life】")
    # the contact is the address's own
    assert world.store.get_contact(world.key(ADDRESS)).has_open_conversation(world.clock())


def test_where_sms_comes_first_email_is_not_used(world, email):
    assert world.dispatch()["reason"] == "US:sms_two_way"          # the sample: a US phone and an address
    assert email.sent == [] and len(world.sms.sent) == 1


def test_without_the_email_sender_the_policy_says_email_is_not_available():
    world = World()
    assert world.dispatch(**cn_customer())["reason"] == "no_supported_channel"
    assert world.store.get_survey(SURVEY).channel_reason == \
        "CN:none (sms_cn: not available; wechat: none; email: not available)"


def test_a_refused_address_fails_the_survey_as_ses_code_and_frees_the_slot(world, email):
    email.fail_with = UndeliverableRecipient("MessageRejected", "rejected by ses", carrier="ses")
    assert world.dispatch(**cn_customer()) == {"survey_id": SURVEY, "status": "failed", "reason": "ses_MessageRejected"}
    assert not world.store.get_contact(world.key(CN_PHONE)).has_open_conversation(world.clock())
    assert not world.store.get_contact(world.key(CN_PHONE)).opted_out


def test_a_suppressed_address_opts_out_the_address_not_the_phone(world, email):
    email.fail_with = RecipientOptedOut("ses MessageRejected: on the suppression list", audit="ses:suppressed")
    outcome = world.dispatch(**cn_customer())
    assert (outcome["status"], outcome["reason"]) == ("failed", "opted_out_at_carrier")
    phone, address = world.store.get_contact(world.key(CN_PHONE)), world.store.get_contact(world.key(ADDRESS))
    assert not phone.opted_out and not phone.has_open_conversation(world.clock())
    assert address.opted_out
    assert [h["audit"] for h in world.store.opt_out_history[world.key(ADDRESS)]] == ["ses:suppressed"]


def test_a_suppressed_address_of_an_email_only_customer_opts_that_contact_out(world, email):
    email.fail_with = RecipientOptedOut("suppressed", audit="ses:suppressed")
    world.dispatch(**email_only())
    contact = world.store.get_contact(world.key(ADDRESS))
    assert contact.opted_out and not contact.has_open_conversation(world.clock())


def test_throttling_is_left_to_the_trigger_to_retry(world, email):
    email.fail_with = RetryableSendError("ses TooManyRequestsException")
    with pytest.raises(RetryableSendError):
        world.dispatch(**cn_customer())
    assert world.store.get_survey(SURVEY).status is SurveyStatus.SENDING       # resumed by the replay
    world.dispatch(**cn_customer())
    assert world.store.get_survey(SURVEY).status is SurveyStatus.SENT and len(email.sent) == 1


def ses_send_event(message_id: str, survey_id: str, kind: str = "Send") -> str:
    """SES's Send (or Delivery) event of the invitation it took, with the tag koe sent it with."""
    body = json.loads(sample("ses-event-send.json" if kind == "Send" else "ses-event-delivery.json"))
    body["mail"]["messageId"] = message_id
    body["mail"]["tags"][SURVEY_TAG] = [survey_tag(survey_id)]
    return json.dumps(body)


def test_an_invitation_ses_took_whose_answer_was_lost_is_recorded_from_ses_send_event(world, email):
    """SES took the email, and the sender never heard (killed right after, or the answer lost): the
    event's replay finds the send in doubt, and SES's Send event, naming the survey by its tag,
    records it. Neither the replay nor the schedule sends it again."""
    email.lose_answer = True
    with pytest.raises(RetryableSendError):
        world.dispatch(**email_only())
    [sent] = email.sent
    assert sent.survey_id == SURVEY
    assert world.dispatch(**email_only())["reason"] == "send_in_doubt"
    outcome = record_feedback(ses_send_event(email.ids[0], SURVEY), feedback_deps(world))
    assert outcome["send_recorded"] is True
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.message_sid, survey.send_at) == (SurveyStatus.SENT, email.ids[0], None)
    world.clock.advance(minutes=10)                      # past the send's lease
    assert world.dispatch(**email_only())["reason"] == "duplicate_event"
    tick(world.tick_deps)
    assert len(email.sent) == 1


@pytest.mark.parametrize("kind", ["Send", "Delivery"])
def test_ses_events_of_a_send_already_recorded_change_nothing(world, email, kind):
    world.dispatch(**email_only())
    before = world.store.get_survey(SURVEY)
    outcome = record_feedback(ses_send_event(email.ids[0], SURVEY, kind), feedback_deps(world))
    assert outcome["send_recorded"] is False and world.store.get_survey(SURVEY) == before


def test_a_send_event_naming_no_survey_of_koes_or_an_sms_one_changes_nothing(world, email):
    assert record_feedback(ses_send_event("m-1", "no-such-survey"), feedback_deps(world))["send_recorded"] is False
    world.store.failures = 0
    world.sms.fail_with = RetryableSendError("twilio 500", in_doubt=True)
    with pytest.raises(RetryableSendError):
        world.dispatch()                                  # by SMS: still sending, no message
    outcome = record_feedback(ses_send_event("m-2", SURVEY), feedback_deps(world))
    assert outcome["send_recorded"] is False and world.store.get_survey(SURVEY).status is SurveyStatus.SENDING


# --- SES's bounces and complaints ------------------------------------------------------------------

def test_a_hard_bounce_opts_the_address_out_and_the_next_survey_finds_no_channel_without_china_sms(world, email):
    world.dispatch(**cn_customer())

    outcome = record_feedback(bounce_of("Li.Mei@Example.com"), feedback_deps(world))

    assert outcome == {"kind": "hard_bounce", "recipients": 1, "opted_out": 1, "send_recorded": False}
    assert world.store.get_contact(world.key(ADDRESS)).opted_out
    assert world.store.opt_out_history[world.key(ADDRESS)][0]["audit"] == "ses:bounce"
    assert not world.store.get_contact(world.key(CN_PHONE)).opted_out         # SMS is untouched
    # the next procedure of this customer, once the first survey's window is over: email is
    # blocked, and China SMS has no sender here (Twilio's link SMS is not used in China)
    world.clock.advance(days=2)
    second = world.dispatch(event_id="claims-2026-000200", procedure="address_change",
                            completed_at=world.clock().isoformat(), **cn_customer())
    assert second["reason"] == "no_supported_channel" and len(email.sent) == 1
    assert world.store.get_survey("claims-2026-000200").channel_reason == \
        "CN:none (sms_cn: not available; wechat: none; email: blocked)"
    assert world.sms.sent == []


def test_a_complaint_opts_out_an_email_only_customer_who_is_then_not_surveyed(world, email):
    world.dispatch(**email_only())
    complaint = json.loads(sample("ses-event-complaint.json"))
    complaint["complaint"]["complainedRecipients"] = [{"emailAddress": ADDRESS}]

    assert record_feedback(json.dumps(complaint), feedback_deps(world))["opted_out"] == 1

    assert world.store.opt_out_history[world.key(ADDRESS)][0]["audit"] == "ses:complaint"
    world.clock.advance(days=40)
    again = world.dispatch(event_id="claims-2026-000300", completed_at=world.clock().isoformat(), **email_only())
    assert (again["status"], again["reason"]) == ("suppressed", "opted_out") and len(email.sent) == 1


@pytest.mark.parametrize("name", ["ses-event-bounce-transient.json", "ses-event-delivery.json"])
def test_soft_bounces_and_deliveries_are_counted_not_acted_on(world, name):
    before = dict(world.store.contacts)
    outcome = record_feedback(sample(name), feedback_deps(world))
    assert outcome["opted_out"] == 0 and outcome["recipients"] == 1
    assert world.store.contacts == before


def test_sns_delivering_the_same_bounce_twice_records_it_once(world):
    record_feedback(bounce_of(ADDRESS), feedback_deps(world))
    assert record_feedback(bounce_of(ADDRESS), feedback_deps(world))["opted_out"] == 0
    assert len(world.store.opt_out_history[world.key(ADDRESS)]) == 1


def test_a_complaint_in_an_sns_envelope_is_acted_on(world):
    record_feedback(sample("sns-envelope-ses-complaint.json"), feedback_deps(world))
    assert world.store.get_contact(world.key("taro.yamada@example.jp")).opted_out


def test_an_unreadable_message_is_dropped_without_writing(world):
    assert record_feedback("not json", feedback_deps(world)) == {"kind": "unreadable", "recipients": 0, "opted_out": 0}
    assert world.store.contacts == {}


# --- the unsubscribe link -----------------------------------------------------------------------------

def test_opening_the_unsubscribe_link_only_asks(world, email):
    world.dispatch(**cn_customer())
    token = email.sent[0].unsubscribe_url.rsplit("/", 1)[1]
    history = dict(world.store.opt_out_history)

    page = show(token, None, unsubscribe_deps(world))

    assert page.outcome == "unsubscribe" and "l*****@example.com" in page.html and 'lang="zh-Hans"' in page.html
    assert world.store.opt_out_history == history and not world.store.get_contact(world.key(ADDRESS))


def test_unsubscribing_opts_the_address_out_once_and_leaves_sms_alone(world, email):
    world.dispatch(**cn_customer())
    token = email.sent[0].unsubscribe_url.rsplit("/", 1)[1]

    first = unsubscribe(token, None, unsubscribe_deps(world))
    second = unsubscribe(token, None, unsubscribe_deps(world))

    assert first.outcome == second.outcome == "unsubscribed" and first.html == second.html
    assert [h["audit"] for h in world.store.opt_out_history[world.key(ADDRESS)]] == [AUDIT]
    assert not world.store.get_contact(world.key(CN_PHONE)).opted_out


@pytest.mark.parametrize("token", ["nonsense", "a.b",
                                   survey_token.sign(KEY, SURVEY),                    # a survey link's token
                                   survey_token.sign(KEY, "no-such-survey", "unsubscribe")])
def test_a_token_koe_did_not_sign_for_unsubscribing_is_not_found(world, email, token):
    world.dispatch(**cn_customer())
    for answer in (show(token, "ja", unsubscribe_deps(world)), unsubscribe(token, "ja", unsubscribe_deps(world))):
        assert answer.outcome == "not_found" and 'lang="ja"' in answer.html
    assert world.store.opt_out_history == {}


def test_a_survey_sent_by_sms_has_nothing_to_unsubscribe(world):
    world.dispatch(customer={"email": None})
    token = survey_token.sign(KEY, SURVEY, "unsubscribe")
    assert unsubscribe(token, None, unsubscribe_deps(world)).outcome == "not_found"


def test_after_unsubscribing_an_email_only_customer_is_not_surveyed(world, email):
    world.dispatch(**email_only())
    unsubscribe(email.sent[0].unsubscribe_url.rsplit("/", 1)[1], None, unsubscribe_deps(world))
    world.clock.advance(days=40)
    again = world.dispatch(event_id="claims-2026-000400", completed_at=world.clock().isoformat(), **email_only())
    assert again["reason"] == "opted_out"
