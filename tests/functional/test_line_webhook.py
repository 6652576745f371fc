"""POST /line/webhook: LINE's events, signed with x-line-signature (devstack/line.py signs them as
LINE does), through Chalice's local gateway; answered 200 with what became of each event."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from chalicelib.domain.model import SurveyStatus
from devstack.line import signature
from tests.functional.conftest import LINE_SECRET, SURVEY, Koe, event

LINE_ID = "U4af4980629e3b7d6c5f2a1b0c9d8e7f6"
WHY_JA = "ありがとうございます。その点数の一番の理由を教えてください。"


def line_event(koe: Koe, kind: str = "message", text: str | None = "9", *, event_id: str = "01LINEFUNCTIONAL000000001",
               redelivery: bool = False) -> dict[str, Any]:
    raw: dict[str, Any] = {"type": kind, "mode": "active", "webhookEventId": event_id,
                           "timestamp": int(koe.clock().timestamp() * 1000),
                           "deliveryContext": {"isRedelivery": redelivery},
                           "source": {"type": "user", "userId": LINE_ID}}
    if kind != "unfollow":
        raw["replyToken"] = f"token-{event_id}"
    if kind == "message":
        raw["message"] = {"type": "text", "id": "1", "quoteToken": "q", "text": text}
    return raw


def post(koe: Koe, *events: dict[str, Any], secret: str | None = LINE_SECRET, body: bytes | None = None) -> Any:
    raw = body if body is not None else json.dumps(
        {"destination": "Ub0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0", "events": list(events)}, ensure_ascii=False).encode()
    headers = {"content-type": "application/json; charset=utf-8",
               **({"x-line-signature": signature(secret, raw)} if secret else {})}
    return koe.client.http.post("/line/webhook", headers=headers, body=raw)


def dispatch_on_line(koe: Koe) -> None:
    payload = event()
    payload["customer"] = {"id": "C-88123", "line_user_id": LINE_ID, "locale": "ja-JP", "timezone": "Asia/Tokyo"}
    assert koe.dispatch(payload) == {"batchItemFailures": []}


def test_given_a_survey_pushed_on_line_when_the_customer_taps_9_then_koe_asks_why_by_reply(koe):
    dispatch_on_line(koe)
    [push] = koe.line.pushed
    assert push["to"] == LINE_ID and push["choices"] == tuple(str(n) for n in range(11))
    response = post(koe, line_event(koe, text="9"))
    assert response.status_code == 200 and response.json_body == {"outcomes": {"answered": 1}}
    assert koe.line.replied[-1]["text"] == WHY_JA
    assert koe.store.get_survey(SURVEY).score == 9


FORGERIES = {"no signature": None, "another channel secret": "1" * 32}


@pytest.mark.parametrize("secret", FORGERIES.values(), ids=FORGERIES.keys())
def test_given_a_forged_or_missing_signature_then_403_and_nothing_changes(koe, secret):
    dispatch_on_line(koe)
    before = copy.deepcopy((koe.store.surveys, koe.store.contacts, koe.store.inbox))
    response = post(koe, line_event(koe), secret=secret)
    assert response.status_code == 403 and response.json_body["code"] == "invalid_signature"
    assert (koe.store.surveys, koe.store.contacts, koe.store.inbox) == before and not koe.line.replied


def test_given_a_signed_body_that_is_not_a_line_webhook_then_400_naming_the_field(koe):
    response = post(koe, body=b'{"destination": "U0"}')
    assert response.status_code == 400 and "events" in response.json_body["error"]


def test_given_a_redelivered_event_then_nothing_changes_and_nothing_is_answered_twice(koe):
    dispatch_on_line(koe)
    post(koe, line_event(koe, text="9"))
    again = post(koe, line_event(koe, text="9", redelivery=True))
    assert again.status_code == 200 and again.json_body == {"outcomes": {"replayed": 1}}
    assert len(koe.line.replied) == 1 and len(koe.line.pushed) == 1
    assert koe.store.get_survey(SURVEY).reprompts == 0


def test_given_an_unfollow_then_the_line_user_id_is_opted_out_of_line(koe):
    dispatch_on_line(koe)
    response = post(koe, line_event(koe, "unfollow", event_id="01LINEFUNCTIONAL000000002"))
    assert response.json_body == {"outcomes": {"opted_out": 1}}
    assert koe.store.get_contact(koe.components.contact_key(LINE_ID)).opted_out
    assert koe.store.get_survey(SURVEY).status is SurveyStatus.OPTED_OUT


def test_given_lines_verify_call_without_events_then_200(koe):
    assert post(koe).json_body == {"outcomes": {}}


def test_given_a_follow_and_an_unknown_type_then_both_are_counted_and_nothing_is_sent(koe):
    postback = {**line_event(koe, "follow", event_id="01LINEFUNCTIONAL000000003"), "type": "postback"}
    response = post(koe, line_event(koe, "follow", event_id="01LINEFUNCTIONAL000000004"), postback)
    assert response.json_body == {"outcomes": {"followed": 1, "ignored": 1}}
    assert not koe.line.replied and not koe.line.pushed
