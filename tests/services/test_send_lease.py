"""The send lease on fakes: the carrier taking a message whose record is not written is the window
where a customer could be texted twice. A replay under the lease sends nothing, the status callback
records the message, and only a lease that ends with no word of it sends again (once)."""

import json
from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.errors import RetryableSendError, SendNotRecorded, StaleSurvey, StorageThrottled
from chalicelib.services import send_survey as send_module
from chalicelib.services.batch import QueueRecord, process
from chalicelib.services.dispatch import SEND_IN_DOUBT, dispatch_event, give_up, settled
from chalicelib.services.record_status import StatusCallback, record_status
from chalicelib.services.tick import tick
from tests.fakes.messaging import FakeDeadLetters, FakeSms
from tests.fakes.stores import FakeConversationStore
from tests.services.conftest import World, event

SURVEY = "claims-2026-000123-paid"


@dataclass
class RecordFails(FakeConversationStore):
    """A store that refuses the write recording a send (status `sent`) `failures` times."""

    failures: int = 0
    refused: list[str] = field(default_factory=list)

    def update_survey(self, old, new, answers=(), contact=None, now=None):  # type: ignore[no-untyped-def]
        if new.status is SurveyStatus.SENT and old.status is SurveyStatus.SENDING and self.failures > 0:
            self.failures -= 1
            self.refused.append(old.survey_id)
            raise StorageThrottled("throttled")
        super().update_survey(old, new, answers, contact, now)


@dataclass
class TakesThenFails(FakeSms):
    """The carrier takes the message, then the answer is lost (a 5xx or a timeout after it)."""

    lose_answers: int = 0

    def send(self, to: str, body: str, status_callback: str) -> str:
        sid = super().send(to, body, status_callback)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            raise RetryableSendError("twilio 500", in_doubt=True)
        return sid


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(send_module, "RECORD_RETRIES", (0.0, 0.0, 0.0))


@pytest.fixture
def world() -> World:
    return World(store=RecordFails())


def _survey(world: World) -> Survey:
    survey = world.store.get_survey(SURVEY)
    assert survey is not None
    return survey


def test_a_send_is_claimed_under_a_lease_held_in_its_send_time(world: World) -> None:
    world.store.failures = 99
    with pytest.raises(SendNotRecorded):
        world.dispatch()
    survey = _survey(world)
    assert survey.status is SurveyStatus.SENDING and survey.message_sid is None
    assert survey.send_at == world.clock() + lifecycle.SEND_LEASE
    assert len(world.store.refused) == 4        # the first write and three more in the function


def test_the_record_is_written_again_in_the_function_before_the_lease_is_needed(world: World) -> None:
    world.store.failures = 3
    assert world.dispatch()["status"] == "sent"
    assert (_survey(world).status, _survey(world).send_at) == (SurveyStatus.SENT, None)


def test_a_replay_under_the_lease_sends_nothing_and_the_callback_records_the_message(world: World) -> None:
    world.store.failures = 99
    with pytest.raises(SendNotRecorded):
        world.dispatch()
    world.store.failures = 0
    for _ in range(3):                                  # the queue delivers the event again and again
        assert world.dispatch()["reason"] == SEND_IN_DOUBT
    [sms] = world.sms.sent
    sid = sms["sid"]
    assert record_status(StatusCallback(SURVEY, sid, "sent", None), world.status_deps) == "recorded"
    survey = _survey(world)
    assert (survey.status, survey.message_sid, survey.send_at) == (SurveyStatus.SENT, sid, None)
    world.clock.advance(minutes=10)
    assert world.dispatch()["reason"] == "duplicate_event"
    tick(world.tick_deps)
    assert len(world.sms.sent) == 1


def test_a_lease_that_ends_with_no_word_of_the_message_is_sent_again_once_by_the_schedule(world: World) -> None:
    world.sms = TakesThenFails(lose_answers=1)
    with pytest.raises(RetryableSendError):
        world.dispatch()
    assert world.dispatch()["reason"] == SEND_IN_DOUBT           # in doubt: the lease holds
    world.clock.advance(seconds=119)
    assert tick(world.tick_deps)["released"] == 0
    world.clock.advance(seconds=2)
    assert tick(world.tick_deps)["released"] == 1
    assert tick(world.tick_deps)["released"] == 0
    assert len(world.sms.sent) == 2                # the bounded window: the first went out, no word came
    assert _survey(world).status is SurveyStatus.SENT


def test_a_refusal_the_carrier_is_sure_of_ends_the_lease_so_the_replay_sends_at_once(world: World) -> None:
    world.sms.fail_with = RetryableSendError("twilio 20429")
    with pytest.raises(RetryableSendError):
        world.dispatch()
    assert _survey(world).send_at == world.clock()
    assert world.dispatch()["status"] == "sent"
    assert len(world.sms.sent) == 1


def test_two_claims_of_one_send_cannot_both_win(world: World) -> None:
    world.sms.fail_with = RetryableSendError("twilio 20429")
    with pytest.raises(RetryableSendError):
        world.dispatch()
    seen = _survey(world)
    send_module.claim(world.store, seen, world.clock())
    with pytest.raises(StaleSurvey):
        send_module.claim(world.store, seen, world.clock())


def test_a_callback_that_overtakes_the_record_leaves_the_sender_satisfied(world: World) -> None:
    """The carrier's callback arrives between the send and its record: both say the same message."""
    store = world.store

    class CallbackFirst(FakeSms):
        def send(self, to: str, body: str, status_callback: str) -> str:
            sid = super().send(to, body, status_callback)
            record_status(StatusCallback(SURVEY, sid, "delivered", None), world.status_deps)
            return sid

    world.sms = CallbackFirst()
    assert world.dispatch()["status"] == "sent"
    survey = store.get_survey(SURVEY)
    assert survey is not None and survey.message_sid == world.sms.sent[0]["sid"]
    assert survey.delivery_status == "delivered"


def test_an_event_that_keeps_failing_after_its_survey_is_claimed_is_not_dead_lettered(world: World) -> None:
    world.store.failures = 99
    deps, letters = world.dispatch_deps, FakeDeadLetters()
    body = json.dumps(event())
    for attempt in (1, 2, 3, 4):
        process([QueueRecord("m1", body, attempt)], lambda b: _fails_after_dispatch(b, deps), letters, 4,
                on_dead_letter=lambda b, error: give_up(json.loads(b)["event_id"], error, deps),
                settled=lambda b: settled(json.loads(b)["event_id"], deps))
    assert letters.letters == []
    assert _survey(world).status is SurveyStatus.SENDING      # the schedule finishes it
    assert len(world.sms.sent) == 1


def _fails_after_dispatch(body: str, deps) -> None:  # type: ignore[no-untyped-def]
    dispatch_event(json.loads(body), deps)
    raise StorageThrottled("throttled")          # e.g. the idempotency record could not be written


def test_an_event_with_no_survey_is_dead_lettered_and_a_lease_keeps_give_up_away(world: World) -> None:
    assert not settled("never-seen", world.dispatch_deps)
    world.sms = TakesThenFails(lose_answers=1)
    with pytest.raises(RetryableSendError):
        world.dispatch()
    assert give_up(SURVEY, RetryableSendError("x"), world.dispatch_deps) is None
    world.clock.advance(minutes=3)
    assert give_up(SURVEY, RetryableSendError("x"), world.dispatch_deps) is not None
    assert _survey(world).status is SurveyStatus.FAILED


def test_a_send_whose_lease_ended_unrecorded_is_the_schedules_not_a_dead_letter(world: World) -> None:
    # The carrier took the SMS and the answer was lost (as a crash after the carrier's accept): the
    # lease ends with nothing recorded. The event is settled (the schedule owns the send), so it is
    # never dead-lettered while the carrier's callback may still record the send.
    world.sms = TakesThenFails(lose_answers=1)
    with pytest.raises(RetryableSendError):
        world.dispatch()
    world.clock.advance(minutes=3)
    assert settled(SURVEY, world.dispatch_deps)
    survey = _survey(world)
    record_status(StatusCallback(SURVEY, world.sms.sent[0]["sid"], "delivered", None), world.status_deps)
    assert _survey(world).status is SurveyStatus.SENT and survey.status is SurveyStatus.SENDING


def test_a_send_past_its_response_window_ends_as_never_sent(world: World) -> None:
    world.sms = TakesThenFails(lose_answers=1)
    with pytest.raises(RetryableSendError):
        world.dispatch()
    world.clock.advance(hours=25)
    tick(world.tick_deps)
    survey = _survey(world)
    assert (survey.status, survey.reason) == (SurveyStatus.FAILED, "send_not_confirmed")
    assert len(world.sms.sent) == 1


def test_a_lease_is_configurable(world: World) -> None:
    from dataclasses import replace

    deps = replace(world.dispatch_deps, send_lease=timedelta(seconds=30))
    world.store.failures = 99
    with pytest.raises(SendNotRecorded):
        dispatch_event(event(), deps)
    assert _survey(world).send_at == world.clock() + timedelta(seconds=30)
