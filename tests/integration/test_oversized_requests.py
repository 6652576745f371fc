"""Requests past DynamoDB's limits, through app.py on the real stores (DynamoDB Local): a key over
2,048 bytes or an item over 400 KB is a ValidationException there (a 500 through the app), which
the in-memory fakes never raise. A case id no event can have is a named 400 before any store is
asked; a text longer than any SMS is cut to what an SMS can hold, flagged, and handled as usual.
Fictional numbers and ids only."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import Components
from chalicelib.domain.claims import id_token_claims
from chalicelib.domain.local_token import mint
from chalicelib.domain.model import SurveyStatus
from chalicelib.domain.principal import Role
from chalicelib.domain.sms import MAX_REPLY_CHARS
from chalicelib.settings import from_env
from tests.fakes import secrets
from tests.functional.conftest import ENV, Koe, fake_secrets, serving
from tests.integration.test_store_contract import a_survey
from tests.services.conftest import Clock

HUGE = 600_000          # characters: a form body of ~600 KB, under the edge's 1 MiB, over an item's 400 KB


@pytest.fixture(scope="module")
def koe(local_aws: dict[str, str]) -> Iterator[Koe]:
    """app.py with its real DynamoDB stores on this session's tables (fakes nowhere on this path)."""
    # The secrets held in memory (tests/fakes/secrets.py): the functional tier's Twilio token signs the replies.
    components = Components(from_env({**ENV, **local_aws, **secrets.SECRET_ENV}), Clock(), secrets=fake_secrets())
    with serving(components) as koe:
        yield koe


def phone() -> str:
    return f"+1555010{uuid.uuid4().int % 10_000:04d}"


def sid() -> str:
    return "SM" + uuid.uuid4().hex


def test_a_huge_text_from_nobody_surveyed_is_kept_cut_and_flagged(koe: Koe):
    # When a signed 600,000-character text arrives from a number with no open conversation
    message_sid = sid()
    response = koe.reply("x" * HUGE, sid=message_sid, sender=phone())
    # Then it is answered, and the start of it is kept for the CX team, flagged as cut
    assert response.status_code == 200, response.body
    from chalicelib.adapters.dynamo import InboxItem

    kept = InboxItem.get(message_sid, consistent_read=True)
    assert (len(kept.body), kept.truncated, kept.reason) == (MAX_REPLY_CHARS, True, "no_open_conversation")


def test_a_score_with_a_huge_comment_is_recorded_the_comment_cut_and_flagged(koe: Koe):
    # Given a survey sent to the customer, waiting for the score
    number = phone()
    survey = replace(a_survey(phone=number, contact_key=koe.components.contact_key(number)),
                     status=SurveyStatus.SENT, open_until=koe.clock.now + timedelta(hours=24))
    koe.store.open_survey(survey, koe.clock.now)
    # When the reply is a score and a 600,000-character comment
    response = koe.reply("2 " + "slow payout. " * (HUGE // 13), sid=sid(), sender=number)
    # Then it is answered and recorded: the score whole, the comment cut, both flagged
    assert response.status_code == 200, response.body
    assert koe.store.get_survey(survey.survey_id).score == 2
    from chalicelib.adapters.dynamo import ResponseItem

    score = ResponseItem.get(survey.survey_id, "score", consistent_read=True)
    comment = ResponseItem.get(survey.survey_id, "comment", consistent_read=True)
    assert (int(score.score), score.truncated, len(score.text)) == (2, True, MAX_REPLY_CHARS)
    assert comment.truncated and comment.text.startswith("slow payout.") and len(comment.text) < MAX_REPLY_CHARS


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("GET", "/v1/cases/{id}", None),
    ("POST", "/v1/cases/{id}/claim", b'{"version": 1}'),
    ("POST", "/v1/cases/{id}/contact-attempts", b'{"version": 1, "outcome": "reached"}'),
])
def test_a_case_id_over_dynamodbs_key_limit_is_a_named_400(koe: Koe, method: str, path: str, payload: Any):
    token = mint(ENV["KOE_LOCAL_TOKEN_SECRET"], id_token_claims("u-admin", Role.CX_ADMIN), koe.clock.now,
                 timedelta(hours=1))
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}
    response = koe.client.http.request(method, path.format(id="c" * 2049), headers=headers, body=payload or b"")
    assert response.status_code == 400
    assert response.json_body["fields"] == [{"field": "case_id", "problem": "is at most 128 characters"}]
    # And one of the longest ids an event may have is looked up: no such case
    response = koe.client.http.request(method, path.format(id="c" * 128), headers=headers, body=payload or b"")
    assert response.status_code == 404
