"""One test per user journey, through the whole local stack (`python -m devstack`) over HTTP:
operations systems post events, customers text the carrier stand-in, the CX team reads queues,
alerts and scores. Each test uses its own phone number and agent so they do not see each other."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = json.loads((ROOT / "tests" / "events" / "procedure-completed.json").read_text())
STARTUP_S = 90


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    ready = tmp_path_factory.mktemp("stack") / "ready.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack", "--api-port", "0", "--carrier-port", "0", "--dynamodb-port", "0",
         "--moto-port", "0", "--tick-seconds", "2", "--in-memory", "--ready-file", str(ready)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        # The journeys send at once, whatever the hour of the run (koe defers outside its send window).
        # Every hour and every day open: the journeys run whenever CI does (quiet hours and holidays
        # are tested on an injected clock in tests/services/test_schedule.py).
        env={**os.environ, "KOE_SEND_WINDOW": "00:00-23:59", "KOE_SKIP_HOLIDAYS": "false"})
    try:
        deadline = time.monotonic() + STARTUP_S
        while not ready.exists():
            if process.poll() is not None:
                pytest.fail(f"the local stack exited early:\n{process.stderr.read()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail("the local stack did not become ready")
            time.sleep(0.2)
        yield json.loads(ready.read_text())
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


class Koe:
    """What the outside world can do to and see of a running koe."""

    def __init__(self, stack: dict[str, Any]):
        self.api, self.carrier, self.key = stack["api_url"], stack["carrier_url"], stack["api_key"]
        self.env = stack["env"]
        aws = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self.sqs = boto3.client("sqs", endpoint_url=stack["moto_endpoint"], **aws)
        self.events = boto3.client("events", endpoint_url=stack["moto_endpoint"], **aws)

    def post(self, payload: Any, key: str | None = None) -> requests.Response:
        return requests.post(f"{self.api}/v1/events", json=payload, timeout=10,
                             headers={"x-api-key": self.key if key is None else key})

    def texts_to(self, phone: str) -> list[dict[str, Any]]:
        return requests.get(f"{self.carrier}/messages", params={"to": phone}, timeout=10).json()

    def reply(self, phone: str, body: str, message_sid: str | None = None) -> dict[str, Any]:
        payload = {"from": phone, "body": body, **({"message_sid": message_sid} if message_sid else {})}
        return requests.post(f"{self.carrier}/reply", json=payload, timeout=20).json()

    def scores(self, dimension: str) -> dict[str, Any]:
        answer = requests.get(f"{self.api}/v1/scores", params={"dimension": dimension}, timeout=10,
                              headers={"x-api-key": self.key})
        assert answer.status_code == 200, answer.text
        return answer.json()

    def queue_bodies(self, url_key: str) -> list[str]:
        """Every message on a queue, left in place (visibility 0)."""
        seen: dict[str, str] = {}
        for _ in range(5):
            answer = self.sqs.receive_message(QueueUrl=self.env[url_key], MaxNumberOfMessages=10,
                                              VisibilityTimeout=0, MessageAttributeNames=["All"])
            for message in answer.get("Messages", []):
                reason = message.get("MessageAttributes", {}).get("reason", {}).get("StringValue", "")
                seen[message["MessageId"]] = message["Body"] + ("\nreason: " + reason if reason else "")
        return list(seen.values())


def event(phone: str, agent: str, **changes: Any) -> dict[str, Any]:
    payload = json.loads(json.dumps(SAMPLE))
    payload["event_id"] = f"e2e-{uuid.uuid4().hex[:12]}"
    payload["completed_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    payload["customer"].update(phone=phone, locale="en-US")
    payload["context"]["agent_id"] = agent
    payload.update(changes)
    return payload


def eventually(check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def invitations(koe: Koe, phone: str) -> list[dict[str, Any]]:
    return [m for m in koe.texts_to(phone) if m["direction"] == "outbound-api"]


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
    follow_ups = [b for b in koe.queue_bodies("KOE_FOLLOW_UP_QUEUE_URL") if case_id in b]
    alerts = [b for b in koe.queue_bodies("KOE_LOCAL_ALERTS_INSPECT_QUEUE_URL") if case_id in b]
    assert len(follow_ups) == 1 and len(alerts) == 1
    message = json.loads(follow_ups[0])
    assert (message["score"], message["agent_id"], message["branch"], message["customer_id"]) == (
        3, agent, "tokyo-chuo", "C-88123")
    assert message["phone"] == "+1******0162" and "5550100162" not in alerts[0]
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

CN_PHONE = "+8613800138000"


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


def test_a_chinese_customer_answers_the_email_and_a_hard_bounce_moves_the_next_survey_to_sms(koe):
    address, agent = "li.mei@example.com", "A-e2e-email"
    customer = {"phone": CN_PHONE, "email": address, "locale": "zh-CN"}
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
    # ... so the next procedure of this customer is surveyed by a link SMS
    koe.post(customer_event(agent, customer, procedure="address_change"))
    [sms] = eventually(lambda: invitations(koe, CN_PHONE))
    assert f"{koe.api}/s/" in sms["body"]
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
