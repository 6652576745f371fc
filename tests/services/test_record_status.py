"""Status callbacks on fakes: never backwards; terminal errors close; 21610 opts out."""

import pytest

from chalicelib.domain.model import SurveyStatus
from chalicelib.services.record_status import StatusCallback, UnknownStatus, record_status
from tests.services.test_send_survey import RecordingSender

SURVEY = "claims-2026-000123-paid"


def callback(world, status, error=None, sid=None):
    sid = sid or world.store.get_survey(SURVEY).message_sid
    return record_status(StatusCallback(SURVEY, sid, status, error), world.status_deps)


def test_delivery_moves_forward_only(world):
    world.dispatch()
    assert callback(world, "sent") == "recorded"
    assert callback(world, "delivered") == "recorded"
    assert callback(world, "sent") == "ignored"          # late and out of order
    assert callback(world, "delivered") == "ignored"     # twice
    assert world.store.get_survey(SURVEY).delivery_status == "delivered"


def test_21610_opts_the_contact_out(world):
    world.dispatch()
    callback(world, "failed", "21610")
    assert world.store.get_contact(world.key()).opted_out
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.reason) == (SurveyStatus.FAILED, "failed_21610")


def test_undelivered_frees_the_phone(world):
    world.dispatch(customer={"email": None})
    callback(world, "undelivered", "30006")              # a landline: nothing to retry, no address
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())
    assert not world.store.get_contact(world.key()).opted_out


def test_unknown_status_is_a_named_error(world):
    world.dispatch()
    with pytest.raises(UnknownStatus):
        callback(world, "teleported")


def test_a_callback_for_an_unknown_survey_is_ignored(world):
    assert record_status(StatusCallback("nope", "SM1", "delivered", None), world.status_deps) == "ignored"


def test_a_callback_about_another_message_is_ignored_not_recorded(world):
    world.dispatch()
    assert callback(world, "failed", "30006", sid="SM" + "f" * 32) == "ignored"
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.delivery_status) == (SurveyStatus.SENT, None)
    assert world.store.get_contact(world.key()).has_open_conversation(world.clock())



# --- after a failed delivery: once more, or by email --------------------------------------------

def test_30003_is_sent_once_more_then_a_second_failure_without_an_address_fails(world):
    world.dispatch(customer={"email": None})
    assert callback(world, "undelivered", "30003") == "recorded"
    retried = world.store.get_survey(SURVEY)
    assert (retried.status, retried.resends, len(world.sms.sent)) == (SurveyStatus.SENT, 1, 2)
    assert callback(world, "sent") == "recorded"                    # the new message ranks from the start
    callback(world, "undelivered", "30003")
    failed = world.store.get_survey(SURVEY)
    assert (failed.status, failed.reason, len(world.sms.sent)) == (SurveyStatus.FAILED, "undelivered_30003", 2)


def test_an_undelivered_sms_goes_by_email_to_a_customer_with_an_address(world):
    email = RecordingSender()
    world.extra_senders["email"] = email
    world.dispatch()                                                # the sample customer has an address
    callback(world, "undelivered", "30006")
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.channel) == (SurveyStatus.SENT, "email")
    assert survey.channel_reason == "US:sms_two_way; then email: undelivered_30006"
    assert email.sent == [(SURVEY, "invitation")]
    assert world.store.get_contact(world.key()).has_open_conversation(world.clock())


def test_no_email_fallback_to_an_address_that_opted_out_nor_after_a_carrier_opt_out(world):
    world.extra_senders["email"] = RecordingSender()
    world.store.set_opt_out(world.key("hanako@example.jp"), True, "email:unsubscribe", world.clock())
    world.dispatch()
    callback(world, "undelivered", "30006")
    assert world.store.get_survey(SURVEY).status is SurveyStatus.FAILED

    world.dispatch(event_id="policy-2026-001000", procedure="new_policy", customer={"phone": "+15550100124"})
    sid = world.store.get_survey("policy-2026-001000").message_sid
    record_status(StatusCallback("policy-2026-001000", sid, "failed", "21610"), world.status_deps)
    assert world.store.get_survey("policy-2026-001000").status is SurveyStatus.FAILED
