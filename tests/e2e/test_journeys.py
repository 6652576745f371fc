"""One test per user journey, through the whole local stack (`python -m devstack`) over HTTP:
operations systems post events, customers text the carrier stand-in, the CX team reads queues,
alerts and scores. Each test uses its own phone number and agent so they do not see each other."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests import clock
from tests.e2e.harness import OPEN_ALL_DAY, Koe, eventually, local_stack

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "tests" / "events" / "procedure-completed.json").read_text())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    # The journeys send at once, whatever the hour of the run (koe defers outside its send window).
    # Every hour and every day open: the journeys run whenever CI does (quiet hours and holidays
    # are tested on an injected clock in tests/services/test_schedule.py, and through the running
    # stack with its time machine in tests/e2e/test_quiet_hours.py).
    with local_stack(tmp_path_factory.mktemp("stack"), OPEN_ALL_DAY) as running:
        yield running


def event(phone: str, agent: str, **changes: Any) -> dict[str, Any]:
    payload = json.loads(json.dumps(SAMPLE))
    payload["event_id"] = f"e2e-{uuid.uuid4().hex[:12]}"
    payload["completed_at"] = clock.start().isoformat(timespec="seconds")   # the stack started there
    payload["customer"].update(phone=phone, locale="en-US")
    payload["context"]["agent_id"] = agent
    payload.update(changes)
    return payload


def invitations(koe: Koe, phone: str) -> list[dict[str, Any]]:
    return koe.invitations(phone)


@pytest.fixture(scope="module")
def koe(stack: dict[str, Any]) -> Koe:
    return Koe(stack)


def test_a_promoter_answers_and_the_score_moves(koe):
    phone, agent = "+15550100161", "A-e2e-promoter"
    assert koe.post(event(phone, agent)).status_code == 202
    [invitation] = eventually(lambda: invitations(koe, phone))
    assert "Reply 0-10" in invitation["body"]
    assert koe.reply(phone, "9")["replies"] == ["Thank you. What is the main reason for your score?"]
    assert koe.reply(phone, "the payout came fast")["replies"][0].startswith("Thank you for your feedback")
    group = eventually(lambda: next((g for g in koe.scores("agent")["groups"] if g["value"] == agent), None))
    assert (group["n"], group["promoters"], group["nps"]) == (1, 1, 100.0)


JP_PHONE = "+819000010161"


def test_a_japanese_customer_follows_the_link_in_the_sms_and_answers_on_the_page(koe):
    branch = f"e2e-jp-link-{uuid.uuid4().hex[:6]}"
    customer = {"phone": JP_PHONE, "email": None, "locale": "ja-JP", "timezone": "Asia/Tokyo"}
    posted = customer_event("A-e2e-jp-link", customer)
    posted["context"]["branch"] = branch
    assert koe.post(posted).status_code == 202
    # Japan: a one-way link SMS, in Japanese, its link on the local API (up to a minute late when the
    # run falls on 23:59 in Tokyo, the one minute the all-day window leaves closed)
    [sms] = eventually(lambda: koe.invitations(JP_PHONE), timeout=75)
    assert sms["body"].startswith("Example Lifeです。保険金のお支払いのアンケート")
    [link] = re.findall(r"https?://\S+", sms["body"])
    assert link.startswith(f"{koe.api}/s/")
    survey = koe.survey(posted["event_id"])
    assert survey is not None and (survey["channel"], survey["channel_reason"]) == \
        ("sms_link", "JP:sms_link (line: none)")
    # following the link shows the survey in Japanese, and records nothing
    page = requests.get(link, timeout=10)
    assert page.status_code == 200 and '<html lang="ja">' in page.text
    assert koe.survey(posted["event_id"])["status"] in ("sent", "delivered")
    # 9 and a comment, sent from the page: recorded as an SMS answer would be, and counted
    answered = requests.post(link, data={"score": "9", "comment": "対応が早くて助かりました"}, timeout=10)
    assert answered.status_code == 200 and "ご回答ありがとうございました" in answered.text
    assert koe.survey_once(posted["event_id"], "answered")["score"] == 9
    group = eventually(lambda: koe.group("branch", branch))
    assert group and (group["n"], group["promoters"], group["nps"]) == (1, 1, 100.0)


def unwrap(body: dict[str, Any]) -> dict[str, Any]:
    """An alert as the inspect queue holds it: SNS's envelope around the message, or the message."""
    inner = body.get("Message")
    return json.loads(inner) if isinstance(inner, str) else body


def test_a_detractor_is_escalated_exactly_once(koe):
    phone, agent = "+15550100162", "A-e2e-detractor"
    posted = event(phone, agent)
    koe.post(posted)
    eventually(lambda: invitations(koe, phone))
    first = koe.reply(phone, "3")
    koe.reply(phone, "3", message_sid=first["message_sid"])         # Twilio retries the webhook
    koe.reply(phone, "nobody told me what was missing")
    case_id = posted["event_id"]
    follow_ups = eventually(lambda: [b for b in koe.queue_bodies("KOE_FOLLOW_UP_QUEUE_URL") if case_id in b])
    alerts = eventually(lambda: [b for b in koe.queue_bodies("KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL") if case_id in b])
    time.sleep(3)       # let any duplicate arrive before counting
    # One "opened" each, whatever the retries; the comment, when it comes in a later stream batch
    # than the score, is announced once more (event "comment").
    follow_ups = [m for b in koe.queue_bodies("KOE_FOLLOW_UP_QUEUE_URL") if case_id in b for m in [json.loads(b)]]
    alerts = [m for b in koe.queue_bodies("KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL") if case_id in b
              for m in [unwrap(json.loads(b))]]
    assert [m["event"] for m in follow_ups].count("opened") == 1 and len(follow_ups) <= 2
    assert [m["event"] for m in alerts].count("opened") == 1 and len(alerts) <= 2
    message = next(m for m in follow_ups if m["event"] == "opened")
    assert (message["score"], message["agent_id"], message["branch"], message["customer_id"]) == (
        3, agent, "tokyo-chuo", "C-88123")
    assert message["phone"] == "+1******0162" and "5550100162" not in json.dumps(alerts)
    group = eventually(lambda: next((g for g in koe.scores("agent")["groups"] if g["value"] == agent), None))
    assert (group["n"], group["detractors"]) == (1, 1)


def test_the_same_event_twice_sends_one_sms(koe):
    phone = "+15550100163"
    posted = event(phone, "A-e2e-dup")
    assert koe.post(posted).status_code == 202
    assert koe.post(posted).status_code == 202
    eventually(lambda: invitations(koe, phone))
    time.sleep(3)
    assert len(invitations(koe, phone)) == 1


def test_stop_means_no_further_sms(koe):
    phone = "+15550100164"
    koe.post(event(phone, "A-e2e-stop"))
    eventually(lambda: invitations(koe, phone))
    koe.reply(phone, "STOP")
    koe.post(event(phone, "A-e2e-stop", procedure="address_change"))
    time.sleep(4)
    assert len(invitations(koe, phone)) == 1


def test_eventbridge_feeds_the_same_queue(koe):
    phone = "+15550100165"
    detail = event(phone, "A-e2e-bus")
    koe.events.put_events(Entries=[{"EventBusName": koe.env["KOE_LOCAL_EVENT_BUS"], "Source": "insurer.claims",
                                    "DetailType": "ProcedureCompleted", "Detail": json.dumps(detail)}])
    assert eventually(lambda: invitations(koe, phone))


def test_a_malformed_event_on_the_bus_is_dead_lettered_with_its_reason(koe):
    bad = {"event_id": f"e2e-bad-{uuid.uuid4().hex[:6]}", "procedure": "claim_payment", "customer": {"id": "C-1"}}
    koe.events.put_events(Entries=[{"EventBusName": koe.env["KOE_LOCAL_EVENT_BUS"], "Source": "insurer.claims",
                                    "DetailType": "ProcedureCompleted", "Detail": json.dumps(bad)}])
    letters = eventually(lambda: [b for b in koe.queue_bodies("KOE_INTAKE_DLQ_URL") if bad["event_id"] in b])
    assert letters and "completed_at: is required" in letters[0]


def test_the_api_refuses_without_a_key_and_names_bad_fields(koe):
    assert koe.post(event("+15550100166", "A"), key="").status_code == 401
    answer = koe.post({"event_id": "x", "procedure": "claim_payment", "completed_at": "yesterday",
                       "customer": {"id": "C-1", "phone": "12345"}})
    assert answer.status_code == 400
    assert {e["field"] for e in answer.json()["errors"]} == {"completed_at", "customer.phone"}


def test_a_forged_webhook_is_refused(koe):
    answer = requests.post(f"{koe.api}/twilio/sms", data={"From": "+15550100167", "Body": "STOP", "MessageSid": "SMx"},
                           headers={"X-Twilio-Signature": "forged"}, timeout=10)
    assert answer.status_code == 403


# --- email (SES on moto; the carrier's mailbox) ------------------------------------------------------

def emails_to(koe: Koe, address: str) -> list[dict[str, Any]]:
    return requests.get(f"{koe.carrier}/emails", params={"to": address}, timeout=10).json()


def score_link(sent: dict[str, Any], score: int) -> str:
    links = [h.replace("&amp;", "&") for h in re.findall(r'href="([^"]+)"', sent["html"])]
    (link,) = [h for h in links if h.endswith(f"?score={score}")]
    return link


def customer_event(agent: str, customer: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """An event for a customer described by `customer` (phone, email, locale: None removes one)."""
    payload = event(customer.get("phone") or "+15550100100", agent, **changes)
    payload["customer"].update(customer)
    payload["customer"] = {k: v for k, v in payload["customer"].items() if v is not None}
    return payload


def test_a_chinese_customer_without_a_phone_answers_the_email_and_after_a_hard_bounce_is_not_surveyed(koe):
    """China's order is China SMS (Alibaba Cloud) then email: without a phone the email goes; once it
    bounced, nothing is left that reaches the customer (the China SMS journey: test_channel_journeys.py)."""
    address, agent = "li.mei@example.com", "A-e2e-email"
    customer = {"phone": None, "email": address, "locale": "zh-CN", "timezone": "Asia/Shanghai"}
    assert koe.post(customer_event(agent, customer)).status_code == 202
    # the email arrives (SES on moto), in Chinese, with 11 score buttons
    [sent] = eventually(lambda: emails_to(koe, address))
    assert sent["subject"] == "【Example Life】关于您的理赔付款的1分钟满意度调查"
    assert sent["list_unsubscribe"].startswith(f"{koe.api}/u/")
    nine = score_link(sent, 9)
    assert nine.startswith(f"{koe.api}/s/")
    # the customer taps 9: the page shows it selected and records nothing yet ...
    page = requests.get(nine, timeout=10)
    assert page.status_code == 200 and 'value="9" checked>' in page.text and '<html lang="zh-Hans">' in page.text
    # ... and sends it on the page: the answer is recorded and counted
    answered = requests.post(nine.split("?")[0], data={"score": "9", "comment": "理赔很快"}, timeout=10)
    assert answered.status_code == 200 and "感谢您的反馈" in answered.text
    group = eventually(lambda: next((g for g in koe.scores("agent")["groups"] if g["value"] == agent), None))
    assert (group["n"], group["promoters"]) == (1, 1)
    # SES reports a hard bounce of that address: koe opts it out of email ...
    bounced = requests.post(f"{koe.carrier}/emails/feedback", json={"to": address, "kind": "bounce"}, timeout=10)
    assert bounced.status_code == 200
    time.sleep(2)       # the runner hands the topic's message to on_ses_event
    # ... so the next procedure of this customer is suppressed: the address opted out
    later = customer_event(agent, customer, procedure="address_change")
    koe.post(later)
    survey = koe.survey_once(later["event_id"], "suppressed")
    assert (survey["reason"], survey["channel_reason"]) == ("opted_out", "no_phone:email"), survey
    assert len(emails_to(koe, address)) == 1


def test_one_click_unsubscribe_stops_the_emails_of_a_customer_without_a_phone(koe):
    address = "taro.yamada@example.jp"
    customer = {"phone": None, "email": address, "locale": "ja-JP"}
    assert koe.post(customer_event("A-e2e-unsub", customer)).status_code == 202
    [sent] = eventually(lambda: emails_to(koe, address), timeout=30)
    answer = requests.post(f"{koe.carrier}/emails/unsubscribe", json={"message_id": sent["message_id"]}, timeout=10)
    assert answer.json() == {"unsubscribe_status": 200}
    assert koe.post(customer_event("A-e2e-unsub", customer, procedure="address_change")).status_code == 202
    time.sleep(4)
    assert len(emails_to(koe, address)) == 1


def test_a_comment_is_read_for_its_sentiment_and_phrases_and_the_cx_team_sees_it(koe):
    """The local stack reads comments with its offline analysers (English: VADER and RAKE)."""
    phone, agent = "+15550100185", f"A-e2e-insight-{uuid.uuid4().hex[:6]}"
    assert koe.post(event(phone, agent)).status_code == 202
    eventually(lambda: invitations(koe, phone))
    koe.reply(phone, "8")
    koe.reply(phone, "The agent was rude and the payout took six weeks.")
    headers = {"authorization": f"Bearer {koe.cx_token()}"}

    def read() -> dict[str, Any] | None:
        answer = requests.get(f"{koe.api}/v1/comments", params={"agent": agent, "group": "agent"},
                              headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        return answer.json() if answer.json()["comments"] else None

    found = eventually(read, timeout=45)
    [comment] = found["comments"]
    assert (comment["sentiment"], comment["score"], comment["phone"]) == ("negative", 8, "+1******0185")
    assert comment["sentiment_score"] < 0 and "payout took six weeks" in comment["key_phrases"]
    [group] = found["groups"]["rows"]
    assert (group["value"], group["n"], group["negative"]) == (agent, 1, 1)
