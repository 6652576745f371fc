"""The customer's place through app.py: dispatch decides an email-only en-GB customer is in Britain and
stores it; the answer carries it through the responses stream, and the case bootstrap's policy builds
counts London business hours; the schedule's closing email waits for a London morning."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.dynamo.survey_items import answer_to_item
from chalicelib.bootstrap import Components
from chalicelib.domain.model import Place
from chalicelib.settings import from_env
from tests.fakes.insights import FakeCommentAnalyser, FakeCommentSource, FakeInsightRequests, FakeInsightStore
from tests.fakes.messaging import FakeAlerts, FakeDeadLetters, FakeEmail, FakeFollowUps, FakeIntakeQueue, FakeSms
from tests.fakes.stores import FakeCaseStore, FakeConversationStore, FakeEventLedger, FakeScoreStore
from tests.functional.conftest import ENV, SURVEY, Clock, Koe, PassThroughIdempotency, event, fake_secrets, serving
from tests.functional.test_cases_api import ADMIN, body, call

EMAIL_ENV = {**ENV, "KOE_EMAIL_FROM": "survey@example.com", "KOE_SES_CONFIGURATION_SET": "koe-ci-email"}
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def koe() -> Iterator[Koe]:
    """The functional tier's fakes (conftest.components), with email on and the clock at Tuesday 10:00 in London."""
    store = FakeConversationStore()
    built = Components(
        from_env(EMAIL_ENV), Clock(datetime(2026, 11, 24, 10, 0, tzinfo=UTC)),
        conversations=store, outcomes=store, cases=FakeCaseStore(), scores=FakeScoreStore(),
        intake_queue=FakeIntakeQueue(), dead_letters=FakeDeadLetters(), follow_ups=FakeFollowUps(),
        alerts=FakeAlerts(), sms=FakeSms(), idempotency=PassThroughIdempotency(),
        event_ledger=FakeEventLedger(), insight_requests=FakeInsightRequests(), comment_insights=FakeInsightStore(),
        insight_dead_letters=FakeDeadLetters(), comment_source=FakeCommentSource(store.answers),
        comment_analyser=FakeCommentAnalyser(), email=FakeEmail(), secrets=fake_secrets())
    with serving(built) as koe:
        yield koe


def british_customer(koe: Koe) -> dict:
    payload = event(customer={"email": "oliver@example.com", "locale": "en-GB"}, completed_at=koe.clock.now.isoformat())
    del payload["customer"]["phone"], payload["customer"]["timezone"]
    return payload


def test_an_email_only_british_customer_is_placed_in_london_for_the_case_and_its_closing_email(koe):
    # Given an email-only en-GB customer, surveyed at 10:00 in London and answering 3 on the page
    assert koe.dispatch(british_customer(koe)) == {"batchItemFailures": []}
    [invitation] = koe.components.email.sent
    link = invitation.content.text.split("https://koe.example.com/api")[1].split()[0].split("?")[0]
    koe.clock.advance(minutes=5)
    assert koe.client.http.post(link, headers=FORM, body=b"score=3").status_code == 200
    assert koe.store.get_survey(SURVEY).place == Place("GB", "Europe/London")
    # When the answer comes through the responses stream as the store wrote it
    images = [answer_to_item(a, timedelta(days=400)).serialize() for a in koe.store.answers_for(SURVEY)]
    assert koe.stream(*images) == {"batchItemFailures": []} and koe.cases.get_case(SURVEY)
    # Then the case counts London's business hours: first contact by Wednesday 10:05 in London
    case = koe.cases.get_case(SURVEY)
    assert (case.customer_timezone, case.customer_place) == ("Europe/London", Place("GB", "Europe/London"))
    assert case.first_contact_due == datetime(2026, 11, 25, 10, 5, tzinfo=UTC)
    # And resolved at 21:00 in London (16:00 in New York), its closing email waits for 09:00 in London
    koe.clock.now = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
    resolved = call(koe, "POST", f"/v1/cases/{SURVEY}/resolve", ADMIN,
                    {"version": case.version, "root_cause": "claim_delay", "action": "expedited"})
    assert resolved.status_code == 200, body(resolved)
    assert koe.tick()["closings"] == 0
    assert koe.cases.get_case(SURVEY).closing_at == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    koe.clock.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    assert koe.tick()["closings"] == 1 and len(koe.components.email.sent) == 2
