"""The one send path: the sender is chosen by the survey's channel, and what the carrier answers is
recorded the same way for every channel."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.errors import NoSender, PermanentError, RetryableSendError, UndeliverableRecipient
from chalicelib.services.send_survey import send_survey

SURVEY = "claims-2026-000123-paid"


@dataclass
class RecordingSender:
    """Any channel's sender, as the port sees it."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    fail_with: Exception | None = None

    def send(self, survey: Survey, message: str) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.sent.append((survey.survey_id, message))
        return f"msg-{len(self.sent)}"


def opened(world) -> Survey:
    """An open survey, as dispatch leaves it when the send was interrupted."""
    world.sms.fail_with = RetryableSendError("twilio 429")
    with pytest.raises(RetryableSendError):
        world.dispatch()
    return world.store.get_survey(SURVEY)


def test_the_sms_sender_renders_the_sms_template_with_a_callback_naming_the_survey(world):
    survey = opened(world)
    outcome = send_survey(survey, world.dispatch_deps.senders, world.store, world.clock())
    assert outcome == {"survey_id": SURVEY, "status": "sent", "reason": survey.channel_reason}
    (sms,) = world.sms.sent
    assert sms["body"] == world.messages.render("sms", "en", "invitation", procedure="claim_payment")
    assert sms["status_callback"].endswith(f"/twilio/status?survey={SURVEY}")


def test_another_channel_plugs_in_with_its_sender_alone(world):
    survey = replace(opened(world), channel="email")
    world.store.surveys[SURVEY] = survey
    email = RecordingSender()
    outcome = send_survey(survey, {"email": email}, world.store, world.clock(), message="reminder")
    assert outcome["status"] == "sent" and email.sent == [(SURVEY, "reminder")]
    stored = world.store.get_survey(SURVEY)
    assert (stored.status, stored.message_sid) == (SurveyStatus.SENT, "msg-1")
    assert world.sms.sent == []


def test_a_channel_without_a_sender_is_a_named_permanent_error(world):
    survey = replace(opened(world), channel="carrier_pigeon")
    with pytest.raises(NoSender, match="carrier_pigeon") as raised:
        send_survey(survey, world.dispatch_deps.senders, world.store, world.clock())
    assert isinstance(raised.value, PermanentError)       # dead-lettered with the reason, not retried


def test_a_refused_recipient_fails_the_survey_and_frees_the_slot_on_any_channel(world):
    survey = replace(opened(world), channel="email")
    world.store.surveys[SURVEY] = survey
    refusing = RecordingSender(fail_with=UndeliverableRecipient("21614", "not mobile"))
    outcome = send_survey(survey, {"email": refusing}, world.store, world.clock())
    assert outcome == {"survey_id": SURVEY, "status": "failed", "reason": "twilio_21614"}
    assert not world.store.get_contact(world.key()).has_open_conversation(world.clock())
