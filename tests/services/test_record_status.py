"""Status callbacks on fakes: never backwards; terminal errors close; 21610 opts out."""

import pytest

from chalicelib.domain.model import SurveyStatus
from chalicelib.services.record_status import StatusCallback, UnknownStatus, record_status

SURVEY = "claims-2026-000123-paid"


def callback(world, status, error=None, sid=None):
    sid = sid or world.store.get_survey(SURVEY).message_sid
    return record_status(StatusCallback(SURVEY, sid, status, error), world.store, world.clock)


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
    world.dispatch()
    callback(world, "undelivered", "30003")
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())
    assert not world.store.get_contact(world.key()).opted_out


def test_unknown_status_is_a_named_error(world):
    world.dispatch()
    with pytest.raises(UnknownStatus):
        callback(world, "teleported")


def test_a_callback_for_an_unknown_survey_is_ignored(world):
    assert record_status(StatusCallback("nope", "SM1", "delivered", None), world.store, world.clock) == "ignored"


def test_a_callback_about_another_message_is_ignored_not_recorded(world):
    world.dispatch()
    assert callback(world, "failed", "30006", sid="SM" + "f" * 32) == "ignored"
    survey = world.store.get_survey(SURVEY)
    assert (survey.status, survey.delivery_status) == (SurveyStatus.SENT, None)
    assert world.store.get_contact(world.key()).has_open_conversation(world.clock())
