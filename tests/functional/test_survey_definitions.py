"""KOE_SURVEY_DEFINITIONS through app.py: a procedure configured for CSAT is asked 1-5 on the web page
and by SMS, a score outside 1-5 is refused (400) or re-prompted, and the answer is recorded with the
scale, the definition's version and CSAT's escalation threshold (settings -> bootstrap -> services)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

from chalicelib.bootstrap import Components, install
from chalicelib.domain import survey_token
from chalicelib.domain.model import SurveyStatus
from chalicelib.settings import from_env
from tests.fakes.messaging import FakeAlerts, FakeDeadLetters, FakeFollowUps, FakeIntakeQueue, FakeSms
from tests.fakes.stores import FakeCaseStore, FakeConversationStore, FakeEventLedger, FakeScoreStore
from tests.functional.conftest import CONTACT_KEY, ENV, SURVEY, PassThroughIdempotency, event, fake_secrets
from tests.services.conftest import Clock

DEFINITIONS = {"claim_payment": {"scale": "csat", "version": 2}}
KEY = survey_token.link_key(CONTACT_KEY.encode())
PAGE = f"/s/{survey_token.sign(KEY, SURVEY)}"
FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture
def components() -> Iterator[Components]:
    """The functional tier's components, with claim_payment asking CSAT (version 2)."""
    store = FakeConversationStore()
    built = Components(
        from_env({**ENV, "KOE_SURVEY_DEFINITIONS": json.dumps(DEFINITIONS)}), Clock(),
        conversations=store, outcomes=store, cases=FakeCaseStore(), scores=FakeScoreStore(),
        intake_queue=FakeIntakeQueue(), dead_letters=FakeDeadLetters(), follow_ups=FakeFollowUps(),
        alerts=FakeAlerts(), sms=FakeSms(), idempotency=PassThroughIdempotency(),
        event_ledger=FakeEventLedger(), secrets=fake_secrets())
    previous = install(built)
    try:
        yield built
    finally:
        install(previous)


def japanese_by_link() -> dict[str, object]:
    japanese = event(customer={"phone": "+819012345678", "locale": "ja-JP"})
    del japanese["customer"]["email"]                       # no email: the channel policy picks the link SMS
    return japanese


def test_a_csat_survey_page_asks_1_to_5_refuses_9_and_records_4_with_its_scale_and_version(koe):
    assert koe.dispatch(japanese_by_link()) == {"batchItemFailures": []}

    page = koe.client.http.get(f"{PAGE}?score=9")
    html = page.body.decode()
    assert page.status_code == 200 and "どの程度満足されましたか" in html
    assert re.findall(r'name="score" value="(\d+)"', html) == ["1", "2", "3", "4", "5"]
    assert " checked>" not in html and "1＝不満" in html and "5＝満足" in html

    refused = koe.client.http.post(PAGE, headers=FORM, body=urlencode({"score": "9", "comment": "遅い"}).encode())
    assert refused.status_code == 400 and 'role="alert">1〜5の中から点数をお選びください。' in refused.body.decode()
    assert koe.store.answers_for(SURVEY) == []

    answered = koe.client.http.post(PAGE, headers=FORM, body=urlencode({"score": "4", "comment": "丁寧"}).encode())

    assert answered.status_code == 200
    survey = koe.store.get_survey(SURVEY)
    assert (survey.status, survey.score, survey.scale, survey.definition_version) == (
        SurveyStatus.ANSWERED, 4, "csat", 2)
    assert [(a.question, a.score, a.scale, a.definition_version, a.threshold)
            for a in koe.store.answers_for(SURVEY)] == [("score", 4, "csat", 2, 2), ("comment", 4, "csat", 2, 2)]


def test_a_csat_sms_conversation_reprompts_9_and_reads_4(koe):
    koe.dispatch(event(customer={"locale": "en-US"}))
    [invitation] = koe.sms.sent
    assert "Reply 1 (very dissatisfied) to 5 (very satisfied)" in invitation["body"]

    reprompt = koe.reply("9", sid="SM" + "1" * 32)
    assert reprompt.status_code == 200 and "from 1 (very dissatisfied) to 5" in reprompt.body.decode()
    assert koe.reply("4", sid="SM" + "2" * 32).status_code == 200

    [score] = koe.store.answers_for(SURVEY)
    assert (score.score, score.scale, score.definition_version, score.threshold) == (4, "csat", 2, 2)
