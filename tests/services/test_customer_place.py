"""Where the customer is, decided once: dispatch works out the country and time zone and stores them
on the survey; the reminder, a deferred release, the case's deadlines and its closing message all
follow that place, whatever the survey's language alone would suggest."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain import survey_token
from chalicelib.domain.model import Place
from chalicelib.domain.principal import Principal, Role
from chalicelib.services.case_schedule import work_cases
from chalicelib.services.cases import act
from chalicelib.services.on_answers import on_answers
from chalicelib.services.tick import tick
from chalicelib.services.web_survey import WebDeps, submit
from tests.fakes.messaging import FakeEmail
from tests.services.conftest import PLACES, SECRET, World, links_of

SURVEY = "claims-2026-000123-paid"
ADMIN = Principal("cx-lead", Role.CX_ADMIN)
ADDRESS = "oliver@example.com"
# An email-only customer in Britain: English, like a customer in the US, but London hours and UK holidays.
BRITISH = {"phone": None, "email": ADDRESS, "locale": "en-GB", "timezone": None}
TUESDAY_10_00_LONDON = "2026-11-24T10:00:00+00:00"       # 05:00 in New York


def at(world: World, iso: str) -> None:
    world.clock.now = datetime.fromisoformat(iso).astimezone(UTC)


@pytest.fixture
def world(email: FakeEmail) -> World:
    w = World()
    w.send_email_through(email)
    return w


def detractor_case(world: World, customer: dict[str, Any]) -> None:
    """Given a survey sent at `now` and answered 3 on its web page five minutes later: a case."""
    world.dispatch(customer=customer, completed_at=world.clock.now.isoformat())
    world.clock.advance(minutes=5)
    deps = WebDeps(store=world.store, pages=_Pages(), links=links_of(survey_token.link_key(SECRET)),
                   threshold_for=world.threshold_for, clock=world.clock, places=PLACES)
    assert submit(survey_token.sign(survey_token.link_key(SECRET), SURVEY), "score=3", None, deps).outcome
    on_answers(world.store.answers_for(SURVEY), world.answer_deps)


def resolve(world: World, iso: str) -> None:
    at(world, iso)
    case = world.cases.get_case(SURVEY)
    act(ADMIN, SURVEY, "resolve", {"version": case.version, "root_cause": "claim_delay", "action": "expedited"},
        world.case_deps)


class _Pages:
    content_security_policy = "default-src 'none'"

    def render(self, page: Any) -> str:
        return f"<{page.kind.value}>"


def test_an_email_only_british_customers_case_counts_london_business_hours(world, email):
    at(world, TUESDAY_10_00_LONDON)
    detractor_case(world, BRITISH)
    assert world.store.get_survey(SURVEY).place == Place("GB", "Europe/London")        # decided at dispatch
    assert len(email.sent) == 1                            # surveyed at once: 10:00 is inside London's window
    case = world.cases.get_case(SURVEY)
    assert case.customer_timezone == "Europe/London"
    # 1 business day (09:00-18:00) from Tuesday 10:05 in London is Wednesday 10:05 in London; counted in
    # New York's hours it would be Tuesday 18:00 there (23:00 UTC).
    assert case.first_contact_due == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)


def test_the_closing_message_waits_for_london_mornings_not_new_york_afternoons(world, email):
    at(world, TUESDAY_10_00_LONDON)
    detractor_case(world, BRITISH)
    resolve(world, "2026-11-24T21:00:00+00:00")            # 21:00 in London, 16:00 in New York
    work_cases(world.case_schedule_deps)
    case = world.cases.get_case(SURVEY)
    assert len(email.sent) == 1 and case.closing == "due"
    assert case.closing_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)       # Wednesday 09:00 in London
    at(world, "2026-11-25T09:00:00+00:00")
    assert work_cases(world.case_schedule_deps)["closings"] == 1 and len(email.sent) == 2


def test_the_closing_message_goes_on_thanksgiving_in_london(world, email):
    """Thanksgiving (Thursday 26 November 2026) is a US holiday, not a British one."""
    at(world, TUESDAY_10_00_LONDON)
    detractor_case(world, BRITISH)
    resolve(world, "2026-11-26T10:00:00+00:00")
    assert work_cases(world.case_schedule_deps)["closings"] == 1 and len(email.sent) == 2


def test_the_events_own_time_zone_is_kept_for_the_closing_message(world):
    """A US number whose event says the customer lives in Los Angeles: surveyed in Los Angeles hours,
    and the closing message waits for Los Angeles too, not for New York."""
    at(world, "2026-11-24T17:00:00+00:00")                 # 09:00 in Los Angeles
    world.dispatch(customer={"phone": "+15550100123", "locale": "en-US", "timezone": "America/Los_Angeles"},
                   completed_at=world.clock.now.isoformat())
    world.reply("3")
    on_answers(world.store.answers_for(SURVEY), world.answer_deps)
    assert world.cases.get_case(SURVEY).customer_timezone == "America/Los_Angeles"
    resolve(world, "2026-11-25T14:30:00+00:00")            # 09:30 in New York, 06:30 in Los Angeles
    work_cases(world.case_schedule_deps)
    assert world.cases.get_case(SURVEY).closing_at == datetime(2026, 11, 25, 17, 0, tzinfo=UTC)   # 09:00 LA


# --- the schedule, late: it still follows the customer's hours ----------------------------------

def test_a_reminder_the_tick_reaches_in_the_customers_night_waits_for_their_morning(world):
    world.reminder_after, world.response_window = timedelta(hours=24), timedelta(days=7)
    at(world, "2026-11-24T10:00:00+09:00")                 # Tuesday morning in Tokyo
    world.dispatch(customer={"phone": "+819012345678", "locale": "ja-JP", "email": None, "timezone": None},
                   completed_at=world.clock.now.isoformat())
    at(world, "2026-11-27T02:00:00+09:00")                 # the schedule comes late: Friday 02:00 in Tokyo
    assert tick(world.tick_deps)["reminded"] == 0
    survey = world.store.get_survey(SURVEY)
    assert survey.remind_at == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)      # Friday 09:00 in Tokyo
    at(world, "2026-11-27T09:00:00+09:00")
    assert tick(world.tick_deps)["reminded"] == 1


def test_a_deferred_survey_the_tick_reaches_in_the_customers_night_waits_for_their_morning(world):
    world.response_window = timedelta(days=7)
    at(world, "2026-11-24T22:00:00+00:00")                 # Tuesday 22:00 in London: deferred to 09:00
    world.dispatch(customer=BRITISH, completed_at=world.clock.now.isoformat())
    assert world.store.get_survey(SURVEY).send_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    at(world, "2026-11-25T23:30:00+00:00")                 # the schedule comes late: 23:30 in London
    assert tick(world.tick_deps)["released"] == 0
    assert world.store.get_survey(SURVEY).send_at == datetime(2026, 11, 26, 9, 0, tzinfo=UTC)


def test_a_resurvey_places_the_customer_where_the_first_survey_did(world, email):
    from tests.services.conftest import test_case_policy

    world.case_policy = test_case_policy(resurvey_days=7)
    at(world, TUESDAY_10_00_LONDON)
    detractor_case(world, BRITISH)
    resolve(world, "2026-11-24T11:00:00+00:00")
    work_cases(world.case_schedule_deps)                       # the closing message
    world.clock.advance(days=7)
    assert work_cases(world.case_schedule_deps)["resurveys"] == 1
    [event] = world.intake.events
    assert (event["customer"]["locale"], event["customer"]["timezone"]) == ("en-GB", "Europe/London")
    from chalicelib.services.dispatch import dispatch_event

    dispatch_event(event, world.dispatch_deps)
    assert world.store.get_survey(event["event_id"]).place == world.store.get_survey(SURVEY).place


def test_a_survey_stored_before_places_is_placed_by_its_phone_number(world):
    """No place stored: the closing message follows the phone number's country and zone (a +1 555
    number: New York), as dispatch would have placed it, not the language."""
    from dataclasses import replace

    at(world, "2026-11-24T15:00:00+00:00")                 # 10:00 in New York
    world.dispatch(customer={"phone": "+15550100123", "locale": "en-US", "timezone": None},
                   completed_at=world.clock.now.isoformat())
    world.store.surveys[SURVEY] = replace(world.store.surveys[SURVEY], place=None)
    world.reply("3")
    assert world.store.answers_for(SURVEY)[0].place == Place("US", "America/New_York")
    on_answers(world.store.answers_for(SURVEY), world.answer_deps)
    assert world.cases.get_case(SURVEY).customer_timezone == "America/New_York"
    resolve(world, "2026-11-25T02:00:00+00:00")            # 21:00 in New York
    work_cases(world.case_schedule_deps)
    assert world.cases.get_case(SURVEY).closing_at == datetime(2026, 11, 25, 14, 0, tzinfo=UTC)    # 09:00 NY
