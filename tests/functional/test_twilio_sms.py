"""POST /twilio/sms: the customer's replies, signed by Twilio, answered with TwiML."""

import copy

import pytest

from chalicelib.errors import StorageThrottled
from tests.fakes.stores import FakeConversationStore
from tests.functional.conftest import SURVEY, event, inbound_form

WHY = "Thank you. What is the main reason for your score?"
OTHER_TOKEN = "deadbeef" * 4


def test_given_a_dispatched_survey_when_a_signed_9_arrives_then_twiml_asks_why(koe):
    koe.dispatch(event())
    response = koe.reply("9")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.body.decode() == \
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Message>{WHY}</Message></Response>'
    assert koe.store.get_survey(SURVEY).score == 9


FORGERIES = {
    "no signature": lambda koe, form: (form, None),
    "another auth token": lambda koe, form: (form, koe.sign("/twilio/sms", form, token=OTHER_TOKEN)),
    "another url": lambda koe, form: (form, koe.sign("/twilio/sms", form, base="https://koe.example.net/api")),
    "changed body": lambda koe, form: ({**form, "Body": "0"}, koe.sign("/twilio/sms", form)),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_given_a_forged_or_missing_signature_then_403_and_nothing_changes(koe, forge):
    koe.dispatch(event())
    before = copy.deepcopy((koe.store.surveys, koe.store.contacts, koe.store.inbox))
    form, signature = forge(koe, inbound_form(Body="9"))
    response = koe.twilio("/twilio/sms", form, signature=signature)
    assert response.status_code == 403
    assert response.json_body == {"error": "X-Twilio-Signature does not match", "code": "invalid_signature"}
    assert (koe.store.surveys, koe.store.contacts, koe.store.inbox) == before


@pytest.mark.parametrize("missing", ["MessageSid", "From"])
def test_given_a_signed_form_without_message_sid_or_from_then_400_naming_the_fields(koe, missing):
    form = {k: v for k, v in inbound_form().items() if k != missing}
    response = koe.twilio("/twilio/sms", form)
    assert response.status_code == 400
    assert response.json_body == {"error": "MessageSid and From are required", "code": "invalid_request"}


def test_given_a_dispatched_survey_when_stop_arrives_then_the_contact_is_opted_out(koe):
    koe.dispatch(event())
    response = koe.reply("STOP")
    assert response.status_code == 200
    assert "<Message>" not in response.body.decode()        # Twilio's own STOP handling answers
    assert koe.contact().opted_out
    assert koe.store.get_survey(SURVEY).status == "opted_out"


class ThrottledStore(FakeConversationStore):
    def get_contact(self, contact_key):
        raise StorageThrottled("ProvisionedThroughputExceededException")


def test_given_the_store_is_throttled_when_a_reply_arrives_then_503_retry_later_so_twilio_retries(koe):
    koe.components.conversations = ThrottledStore()
    response = koe.reply("9")
    assert response.status_code == 503 and response.json_body["code"] == "retry_later"


@pytest.mark.parametrize("path", ["/twilio/sms", "/twilio/status?survey=" + SURVEY])
def test_given_an_unsigned_body_that_is_not_utf8_then_refused_as_a_client_error_not_a_500(koe, path):
    """Twilio only sends UTF-8: other bytes cannot be Twilio's, and must not make an unsigned
    caller's request a 500 (with an unhandled-exception log) before the signature is checked."""
    response = koe.client.http.post(path, headers={"content-type": "application/x-www-form-urlencoded"},
                                    body=b"Body=\xff\xfe&From=%2B15550100123")
    assert response.status_code in (400, 403)
    assert set(response.json_body) == {"error", "code"}


# --- what no Twilio webhook carries: a named 400; what is too long to keep: cut, flagged, still handled

@pytest.mark.parametrize("sid", ["SM" + "1" * 3000, "SM1", "XX" + "1" * 32, "SM" + "g" * 32])
def test_given_a_message_sid_twilio_never_makes_then_400_naming_it_and_nothing_changes(koe, sid):
    koe.dispatch(event())
    before = copy.deepcopy((koe.store.surveys, koe.store.contacts, koe.store.inbox))
    response = koe.reply("9", sid=sid)
    assert response.status_code == 400
    assert response.json_body == {"error": "MessageSid is not a Twilio message SID (SM or MM and 32 hex digits)",
                                  "code": "invalid_request"}
    assert (koe.store.surveys, koe.store.contacts, koe.store.inbox) == before


def test_given_a_body_longer_than_any_sms_then_it_is_cut_flagged_and_kept_for_cx(koe):
    # Given no open conversation, When a 600,000-character text arrives
    response = koe.reply("x" * 600_000)
    # Then it is answered, and kept cut to the longest SMS with the flag saying so
    assert response.status_code == 200
    [kept] = koe.store.inbox.values()
    assert (len(kept.body), kept.truncated, kept.reason) == (1600, True, "no_open_conversation")


def test_given_a_survey_when_a_score_with_a_huge_comment_arrives_then_both_are_recorded_the_comment_cut(koe):
    koe.dispatch(event())
    response = koe.reply("3 " + "slow payout. " * 50_000)
    assert response.status_code == 200 and koe.store.get_survey(SURVEY).score == 3
    score, comment = koe.store.answers_for(SURVEY)
    assert (score.score, score.truncated, len(score.text)) == (3, True, 1600)
    assert (comment.question, comment.truncated) == ("comment", True)
    assert comment.text.startswith("slow payout.") and len(comment.text) < 1600


def test_given_a_body_of_the_longest_sms_then_nothing_is_flagged(koe):
    koe.dispatch(event())
    koe.reply("3 " + "a" * 1598)
    assert [a.truncated for a in koe.store.answers_for(SURVEY)] == [False, False]


def test_given_a_signed_reply_delivered_again_then_the_same_answer_and_nothing_recorded_twice(koe):
    """Twilio redelivers a webhook it saw no answer to (a timeout): the same MessageSid, the same valid
    signature. A replay is answered as the first time and changes nothing."""
    koe.dispatch(event())
    first = koe.reply("9", sid="SM" + "a" * 32)
    after_first = copy.deepcopy((koe.store.surveys, koe.store.answers_for(SURVEY)))
    again = koe.reply("9", sid="SM" + "a" * 32)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.body == first.body                                   # the same "why?"
    assert (koe.store.surveys, koe.store.answers_for(SURVEY)) == after_first
    comment = koe.reply("Quick and kind.", sid="SM" + "b" * 32)       # the conversation goes on
    assert comment.status_code == 200 and [a.question for a in koe.store.answers_for(SURVEY)] == ["score", "comment"]
