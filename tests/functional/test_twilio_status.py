"""POST /twilio/status?survey=<id>: the carrier's signed delivery callbacks."""

import pytest

from tests.functional.conftest import SURVEY, event

OTHER_TOKEN = "deadbeef" * 4


@pytest.fixture
def sent(koe):
    """A dispatched survey: the status callback path (with its query) koe gave the carrier, and
    the callback form for its message."""
    koe.dispatch(event())
    [message] = koe.sms.sent
    path = message["status_callback"].removeprefix("https://koe.example.com/api")
    return path, {"MessageSid": message["sid"], "MessageStatus": "delivered", "To": message["to"],
                  "AccountSid": "AC" + "0123456789abcdef" * 2}


def test_given_a_sent_survey_when_delivered_is_reported_then_recorded(koe, sent):
    path, form = sent
    assert path == f"/twilio/status?survey={SURVEY}"
    response = koe.twilio(path, form)
    assert (response.status_code, response.json_body) == (200, {"outcome": "recorded"})
    assert koe.store.get_survey(SURVEY).delivery_status == "delivered"


def test_given_a_recorded_status_when_it_is_replayed_then_ignored(koe, sent):
    path, form = sent
    koe.twilio(path, form)
    response = koe.twilio(path, form)
    assert (response.status_code, response.json_body) == (200, {"outcome": "ignored"})


def test_given_an_unknown_status_then_400_and_nothing_stored(koe, sent):
    path, form = sent
    response = koe.twilio(path, {**form, "MessageStatus": "teleported"})
    assert response.status_code == 400
    assert response.json_body == {"error": "unknown MessageStatus 'teleported'", "code": "invalid_request"}
    assert koe.store.get_survey(SURVEY).delivery_status is None


def test_given_no_survey_in_the_query_then_400_naming_the_fields(koe, sent):
    _, form = sent
    response = koe.twilio("/twilio/status", form)
    assert response.status_code == 400
    assert response.json_body["error"] == "survey, MessageSid and MessageStatus are required"


@pytest.mark.parametrize("signature", [None, "forged"], ids=["no signature", "another auth token"])
def test_given_a_forged_callback_then_403_and_nothing_stored(koe, sent, signature):
    path, form = sent
    forged = signature and koe.sign(path, form, token=OTHER_TOKEN)
    response = koe.twilio(path, form, signature=forged)
    assert response.status_code == 403 and response.json_body["code"] == "invalid_signature"
    assert koe.store.get_survey(SURVEY).delivery_status is None


def test_given_a_callback_signed_for_another_survey_then_403(koe, sent):
    path, form = sent
    signature = koe.sign("/twilio/status?survey=another-survey", form)
    response = koe.twilio(path, form, signature=signature)
    assert response.status_code == 403


@pytest.mark.parametrize(("change", "error"), [
    (lambda path, form: (f"/twilio/status?survey={'s' * 3000}", form),
     "survey is at most 128 characters (a survey is named by its event id)"),
    (lambda path, form: (path, {**form, "MessageSid": "SM" + "1" * 3000}),
     "MessageSid is not a Twilio message SID (SM or MM and 32 hex digits)"),
], ids=["3,000-character survey", "3,000-character MessageSid"])
def test_given_an_id_no_callback_carries_then_400_naming_it_and_nothing_stored(koe, sent, change, error):
    path, form = change(*sent)
    response = koe.twilio(path, form)
    assert (response.status_code, response.json_body) == (400, {"error": error, "code": "invalid_request"})
    assert koe.store.get_survey(SURVEY).delivery_status is None
