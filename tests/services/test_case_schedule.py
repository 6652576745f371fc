"""The schedule's work on resolved cases, on fakes: the closing message goes once, inside the customer's
send window, never to an opted-out contact, and a carrier fault is tried again a bounded number of
times; overlapping ticks never send it twice. The re-survey is enqueued once (a repeat is one
survey), dispatch takes it despite the procedure's cooldown, and its answer records recovery once."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.schema import event_errors
from chalicelib.domain.cases import Case
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import RecipientOptedOut, RetryableSendError, UndeliverableRecipient
from chalicelib.services.case_schedule import CLOSING_ATTEMPTS, resurvey_event, work_cases
from chalicelib.services.cases import act
from chalicelib.services.dispatch import dispatch_event
from chalicelib.services.on_answers import on_answers
from tests.fakes.messaging import FakeEmail
from tests.fakes.stores import FakeCaseStore
from tests.services.conftest import PHONE, PLACES, World
from tests.services.conftest import test_case_policy as case_policy  # (not collected as a test)

SURVEY = "claims-2026-000123-paid"
RESURVEY = f"{SURVEY}~resurvey"
ADMIN = Principal("cx-lead", Role.CX_ADMIN)
# The +1 555 number is a US one, its customer in New York (the event's zone): the send window is
# 09:00-20:00 there, US holidays skipped.
MONDAY_10_00_NY = "2026-11-23T15:00:00+00:00"
TUESDAY_10_00_NY = "2026-11-24T15:00:00+00:00"
WEDNESDAY_21_00_NY = "2026-11-26T02:00:00+00:00"      # the eve of Thanksgiving (Thursday 26 November)
FRIDAY_09_00_NY = "2026-11-27T14:00:00+00:00"


def at(world: World, iso: str) -> None:
    world.clock.now = datetime.fromisoformat(iso).astimezone(UTC)


def resolved_case(world: World, when: str = TUESDAY_10_00_NY) -> Case:
    """Given a detractor's case (score 3 by SMS from a customer in New York), resolved at `when`."""
    at(world, MONDAY_10_00_NY)
    world.dispatch(customer={"timezone": "America/New_York"})
    world.reply("3")
    on_answers(world.store.answers_for(SURVEY), world.answer_deps)
    at(world, when)
    case = world.cases.get_case(SURVEY)
    act(ADMIN, SURVEY, "resolve", {"version": case.version, "root_cause": "claim_delay", "action": "expedited"},
        world.case_deps)
    return world.cases.get_case(SURVEY)


def tick(world: World) -> dict[str, int]:
    return work_cases(world.case_schedule_deps)


def closings(world: World) -> list[dict[str, str]]:
    closing = world.messages.render("sms", "en", "closing", procedure="claim_payment")
    return [m for m in world.sms.sent if m["body"] == closing]


def kinds(world: World, case_id: str = SURVEY) -> list[str]:
    return [e.kind for e in world.cases.get_case(case_id).timeline]


# --- the closing message ------------------------------------------------------------------------

def test_the_closing_message_is_sent_once_inside_the_send_window(world):
    case = resolved_case(world)
    assert (case.closing, case.closing_at) == ("due", world.clock.now)
    totals = tick(world)
    assert totals["closings"] == 1
    [sent] = closings(world)
    assert sent["to"] == PHONE and sent["body"].startswith("Example Life: thank you for telling us")
    case = world.cases.get_case(SURVEY)
    assert (case.closing, case.closing_at, case.channel) == ("sent", None, "sms_two_way")
    assert kinds(world)[-1] == "closing_sent" and case.timeline[-1].detail == {"channel": "sms_two_way"}
    world.clock.advance(minutes=1)
    assert tick(world)["closings"] == 0 and len(closings(world)) == 1
    assert world.cases.due(world.clock.now + timedelta(days=400), 10) == []       # nothing left to do


def test_outside_the_window_it_waits_for_the_next_opening_past_a_holiday(world):
    resolved_case(world, WEDNESDAY_21_00_NY)
    tick(world)
    case = world.cases.get_case(SURVEY)
    assert closings(world) == [] and case.closing == "due"
    assert case.closing_at == datetime.fromisoformat(FRIDAY_09_00_NY)        # Thanksgiving skipped
    at(world, "2026-11-27T13:59:00+00:00")
    assert world.cases.due(world.clock.now, 10) == []            # not even read before then
    at(world, FRIDAY_09_00_NY)
    assert tick(world)["closings"] == 1 and len(closings(world)) == 1
    world.clock.advance(minutes=1)
    tick(world)
    assert len(closings(world)) == 1


def test_an_opted_out_contact_gets_no_closing_message(world):
    resolved_case(world)
    world.store.set_opt_out(world.key(), True, "sms:STOP", world.clock.now)
    tick(world)
    case = world.cases.get_case(SURVEY)
    assert closings(world) == [] and (case.closing, case.closing_at) == ("skipped", None)
    assert case.timeline[-1].kind == "closing_skipped" and case.timeline[-1].detail == {"reason": "opted_out"}
    tick(world)
    assert closings(world) == []


def test_a_carrier_throttle_is_tried_again_then_the_closing_message_fails(world):
    resolved_case(world)
    for attempt in range(1, CLOSING_ATTEMPTS + 1):
        world.sms.fail_with = RetryableSendError("twilio 20429")
        tick(world)
        case = world.cases.get_case(SURVEY)
        if attempt < CLOSING_ATTEMPTS:
            assert (case.closing, case.closing_at) == ("due", world.clock.now + timedelta(minutes=10))
            world.clock.advance(minutes=9)
            tick(world)                                  # not yet: nothing tried
            world.clock.advance(minutes=1)
    assert (case.closing, case.closing_at) == ("failed", None)
    # the claims that were not sent leave no closing_sent on the timeline
    assert kinds(world)[-CLOSING_ATTEMPTS:] == ["closing_retry"] * (CLOSING_ATTEMPTS - 1) + ["closing_failed"]
    assert "closing_sent" not in kinds(world)
    assert case.timeline[-1].detail == {"channel": "sms_two_way", "error": "RetryableSendError"}
    world.clock.advance(hours=1)
    tick(world)
    assert world.sms.sent == [world.sms.sent[0]]         # the invitation alone: no closing ever went
    assert world.cases.get_case(SURVEY).closing == "failed"


def test_a_throttle_then_a_send_is_one_closing_message(world):
    resolved_case(world)
    world.sms.fail_with = RetryableSendError("twilio 20429")
    tick(world)
    world.clock.advance(minutes=10)
    tick(world)
    assert len(closings(world)) == 1 and world.cases.get_case(SURVEY).closing == "sent"
    assert kinds(world)[-2:] == ["closing_retry", "closing_sent"]


def test_a_permanent_error_fails_the_closing_message_at_once(world):
    resolved_case(world)
    world.sms.fail_with = UndeliverableRecipient("21614", "not a mobile number")
    tick(world)
    case = world.cases.get_case(SURVEY)
    assert (case.closing, case.closing_at) == ("failed", None)
    assert case.timeline[-1].kind == "closing_failed" and case.timeline[-1].detail["error"] == "UndeliverableRecipient"
    world.clock.advance(minutes=10)
    tick(world)
    assert closings(world) == []


def test_an_opt_out_the_carrier_reports_fails_it_and_opts_the_contact_out(world):
    resolved_case(world)
    world.sms.fail_with = RecipientOptedOut("twilio 21610")
    tick(world)
    assert world.cases.get_case(SURVEY).closing == "failed"
    assert world.store.get_contact(world.key()).opted_out is True
    assert world.store.opt_out_history[world.key()][-1]["audit"] == "carrier:21610"


# --- overlapping ticks --------------------------------------------------------------------------

def test_a_tick_that_loses_the_write_sends_nothing_and_the_next_sends_once(world):
    resolved_case(world)
    world.cases.conflict_next_save = True            # someone (another tick, a person) saved it first
    assert tick(world)["case_raced"] == 1 and closings(world) == []
    world.clock.advance(minutes=1)
    assert tick(world)["closings"] == 1
    world.clock.advance(minutes=1)
    tick(world)
    assert len(closings(world)) == 1


@dataclass
class SameDueList:
    """The case store as a second, overlapping tick sees it: it read the due cases before the first
    tick wrote; its writes go to the same store."""

    store: FakeCaseStore
    read_before: list[Case]

    def due(self, now: datetime, limit: int) -> list[Case]:
        return self.read_before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


def test_two_ticks_that_read_the_same_case_send_its_closing_message_once(world):
    resolved_case(world)
    read_by_both = world.cases.due(world.clock.now, 100)
    first = tick(world)
    second = work_cases(replace(world.case_schedule_deps, cases=SameDueList(world.cases, read_by_both)))
    assert (first["closings"], second["closings"], second["case_raced"]) == (1, 0, 1)
    assert len(closings(world)) == 1


# --- the closing message by email ---------------------------------------------------------------

def by_email(world: World, email: FakeEmail) -> None:
    """The case's survey went by email (the customer also has a phone: the survey is keyed by it)."""
    world.send_email_through(email)
    world.store.surveys[SURVEY] = replace(world.store.surveys[SURVEY], channel="email")


def test_the_closing_email_has_no_survey_in_it_and_one_click_unsubscribe(world, email):
    resolved_case(world)
    by_email(world, email)
    tick(world)
    [sent] = email.sent
    assert sent.to == "hanako@example.jp" and sent.unsubscribe_url.startswith("https://koe.example.jp/u/")
    assert sent.content.subject == "Thank you for your feedback on your claim payment"
    assert "?score=" not in sent.content.html and world.link(world.store.surveys[SURVEY]) not in sent.content.html
    assert sent.unsubscribe_url in sent.content.html and sent.unsubscribe_url in sent.content.text
    assert world.cases.get_case(SURVEY).channel == "email" and closings(world) == []


def test_an_unsubscribed_address_gets_no_closing_email(world, email):
    resolved_case(world)
    by_email(world, email)
    world.store.set_opt_out(world.key("hanako@example.jp"), True, "email:unsubscribe", world.clock.now)
    tick(world)
    assert email.sent == [] and world.cases.get_case(SURVEY).closing == "skipped"


# --- the re-survey ------------------------------------------------------------------------------

@pytest.fixture
def resurveying() -> World:
    return World(case_policy=case_policy(resurvey_days=7))


def test_the_resurvey_is_enqueued_once_after_the_days_configured(resurveying):
    world = resurveying
    case = resolved_case(world)
    assert case.resurvey_at == world.clock.now + timedelta(days=7)
    tick(world)                                              # the closing message
    assert world.intake.events == []
    world.clock.advance(days=7)
    assert tick(world)["resurveys"] == 1
    [event] = world.intake.events
    assert event["event_id"] == RESURVEY and event["context"]["resurvey_of"] == SURVEY
    assert (event["procedure"], event["customer"]) == ("claim_payment", {          # placed where the first was
        "id": "C-88123", "locale": "en-US", "timezone": "America/New_York", "phone": PHONE,
        "email": "hanako@example.jp"})
    assert event["context"]["branch"] == "tokyo-chuo" and event_errors(event, world.clock.now) == []
    case = world.cases.get_case(SURVEY)
    assert case.resurvey_id == RESURVEY and kinds(world)[-1] == "resurvey_sent"
    world.clock.advance(minutes=1)
    tick(world)
    assert len(world.intake.events) == 1


def test_a_resurvey_enqueued_again_after_a_lost_write_is_one_survey(resurveying):
    world = resurveying
    resolved_case(world)
    tick(world)
    world.clock.advance(days=7)
    world.cases.conflict_next_save = True
    assert tick(world)["case_raced"] == 1                     # enqueued, then the write lost
    tick(world)
    assert [e["event_id"] for e in world.intake.events] == [RESURVEY, RESURVEY]
    outcomes = [dispatch_event(e, world.dispatch_deps) for e in world.intake.events]
    assert outcomes[0]["status"] == "sent" and outcomes[1]["status"] != "failed"
    assert len([m for m in world.sms.sent if "Reply 0-10" in m["body"]]) == 2     # the invitation, the re-survey


def test_a_queue_that_refuses_the_resurvey_leaves_the_case_due(resurveying):
    world = resurveying
    resolved_case(world)
    tick(world)
    world.clock.advance(days=7)
    world.intake.refuse = True
    assert tick(world)["case_failed"] == 1 and world.cases.get_case(SURVEY).resurvey_id is None
    world.intake.refuse = False
    world.clock.advance(minutes=1)
    assert tick(world)["resurveys"] == 1 and len(world.intake.events) == 1


def test_dispatch_takes_the_resurvey_despite_the_cooldown_and_its_answer_records_recovery_once(resurveying):
    world = resurveying
    resolved_case(world)
    tick(world)
    world.clock.advance(days=7)
    tick(world)
    # an ordinary survey of the same procedure is inside the 30-day cooldown ...
    ordinary = world.dispatch(event_id="claims-2026-000456-paid", completed_at=world.clock.now.isoformat())
    assert (ordinary["status"], ordinary["reason"]) == ("suppressed", "cooldown")
    # ... the re-survey is not
    assert dispatch_event(world.intake.events[0], world.dispatch_deps)["status"] == "sent"
    assert world.store.get_survey(RESURVEY).context["resurvey_of"] == SURVEY
    world.reply("8")
    answers = world.store.answers_for(RESURVEY)
    on_answers(answers, world.answer_deps)
    on_answers(answers, world.answer_deps)                  # a replayed batch
    case = world.cases.get_case(SURVEY)
    assert case.recovered is True
    assert kinds(world).count("resurvey_answered") == 1
    assert case.timeline[-1].detail == {"score": "8", "recovered": "true"}


def test_a_detractor_again_is_not_recovered(resurveying):
    world = resurveying
    resolved_case(world)
    tick(world)
    world.clock.advance(days=7)
    tick(world)
    dispatch_event(world.intake.events[0], world.dispatch_deps)
    world.reply("2")
    on_answers(world.store.answers_for(RESURVEY), world.answer_deps)
    assert world.cases.get_case(SURVEY).recovered is False
    assert world.cases.get_case(RESURVEY) is not None           # and the new answer opens its own case


def test_the_resurvey_waits_for_a_closing_message_still_due():
    world = World(case_policy=case_policy(resurvey_days=1))
    resolved_case(world, WEDNESDAY_21_00_NY)                 # closing deferred to Friday 09:00 (Thanksgiving)
    tick(world)
    at(world, "2026-11-27T02:00:00+00:00")                   # the re-survey's day; the closing's window not open
    tick(world)
    case = world.cases.get_case(SURVEY)
    assert world.intake.events == [] and case.resurvey_at == datetime.fromisoformat(FRIDAY_09_00_NY)
    at(world, FRIDAY_09_00_NY)
    totals = tick(world)
    assert (totals["closings"], totals["resurveys"]) == (1, 1)
    assert kinds(world)[-2:] == ["closing_sent", "resurvey_sent"]


def test_a_closing_message_that_fails_in_the_resurveys_tick_leaves_no_closing_sent():
    world = World(case_policy=case_policy(resurvey_days=1))
    resolved_case(world, WEDNESDAY_21_00_NY)
    tick(world)
    at(world, FRIDAY_09_00_NY)
    world.sms.fail_with = RetryableSendError("twilio 20429")
    tick(world)
    assert kinds(world)[-2:] == ["resurvey_sent", "closing_retry"]
    assert "closing_sent" not in kinds(world)


def test_an_opted_out_contact_is_not_resurveyed(resurveying):
    world = resurveying
    resolved_case(world)
    tick(world)
    world.store.set_opt_out(world.key(), True, "sms:STOP", world.clock.now)
    world.clock.advance(days=7)
    tick(world)
    case = world.cases.get_case(SURVEY)
    assert world.intake.events == [] and case.resurvey_at is None and kinds(world)[-1] == "resurvey_skipped"


def test_a_resurvey_of_a_survey_with_a_long_id_is_still_a_valid_event(resurveying):
    world = resurveying
    case = resolved_case(world)
    survey = replace(world.store.get_survey(SURVEY), survey_id="x" * 128)
    event = resurvey_event(survey, case, world.clock.now, PLACES.of_survey(survey))
    assert len(event["event_id"]) <= 128 and event["event_id"].endswith("~resurvey")
    assert event == resurvey_event(survey, case, world.clock.now, PLACES.of_survey(survey))  # stable: idempotent
    assert event_errors(event, world.clock.now) == []
