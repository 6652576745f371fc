"""deliver_alerts: the alert deliveries queue's SQS batches (SNS's envelope in each body) through
app.py, with the fakes handed in through the composition root: partial batch failures, the backoff
set on each failed record, dead letters with their reason, and a replay delivered once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

import app as app_module
from chalicelib.bootstrap import Components, install
from chalicelib.errors import RetryableSendError, UndeliverableRecipient
from chalicelib.resources import DEFAULT_PREFIX, consumed_by, physical
from chalicelib.settings import from_env
from tests.fakes.alert_delivery import (
    ROUTING_JSON,
    TOKYO_CHAT,
    FakeAlertLedger,
    FakeTransport,
    FakeVisibility,
    an_alert,
    sns_envelope,
)
from tests.fakes.messaging import FakeDeadLetters
from tests.functional.conftest import ENV, REPO_ROOT
from tests.services.conftest import Clock

ALERT_QUEUE = physical(DEFAULT_PREFIX, consumed_by("deliver_alerts").name)
OPS_CHAT = "https://chat.example.jp/hooks/T0001/B0003/ops"
ALERT_ENV = {
    **ENV,
    "KOE_EMAIL_FROM": "koe-alerts@example.jp",
    "KOE_CASE_ROUTING": json.dumps(ROUTING_JSON),
    "KOE_ALERT_SUBSCRIBERS": json.dumps([{"name": "cx-ops", "chat": OPS_CHAT, "filter": {"event": ["breach"]}}]),
    "KOE_ALERT_DELIVERIES_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/koe-alert-deliveries",
    "KOE_ALERT_DELIVERIES_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/000000000000/koe-alert-deliveries-dlq",
}


class Alerts:
    """app.py's deliver_alerts in-process, with the fakes it delivers through."""

    def __init__(self, client: Client, components: Components) -> None:
        self.client, self.components = client, components

    @property
    def email(self) -> FakeTransport:
        return self.components.alert_email

    @property
    def chat(self) -> FakeTransport:
        return self.components.chat

    @property
    def visibility(self) -> FakeVisibility:
        return self.components.alert_visibility

    @property
    def dead_letters(self) -> FakeDeadLetters:
        return self.components.alert_dead_letters

    def deliver(self, *bodies: str, receive_count: int = 1) -> dict[str, Any]:
        """One SQS batch; each record gets its own id msg-N and receipt handle receipt-N."""
        batch = self.client.events.generate_sqs_event(message_bodies=list(bodies), queue_name=ALERT_QUEUE)
        for n, record in enumerate(batch["Records"]):
            record["messageId"], record["receiptHandle"] = f"msg-{n}", f"receipt-{n}"
            record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
        return self.client.lambda_.invoke("deliver_alerts", batch).payload


@pytest.fixture
def alerts() -> Iterator[Alerts]:
    built = Components(from_env(ALERT_ENV), Clock(), alert_ledger=FakeAlertLedger(), chat=FakeTransport(),
                       alert_email=FakeTransport(), alert_dead_letters=FakeDeadLetters(),
                       alert_visibility=FakeVisibility())
    previous = install(built)
    try:
        with Client(app_module.app, project_dir=str(REPO_ROOT)) as client:
            yield Alerts(client, built)
    finally:
        install(previous)


def test_an_alert_in_its_sns_envelope_reaches_the_owner_and_the_matching_subscriber(alerts: Alerts) -> None:
    breach = an_alert("breach", to=("person:mgr-tokyo",))
    assert alerts.deliver(sns_envelope(breach)) == {"batchItemFailures": []}
    [(to, content)] = alerts.email.sent
    assert to == "mgr-tokyo@example.jp" and content.subject.startswith("【koe】解決期限を過ぎました")
    assert [address for address, _ in alerts.chat.sent] == [OPS_CHAT]


def test_a_replayed_alert_is_delivered_once(alerts: Alerts) -> None:
    body = sns_envelope(an_alert("opened", to=("agent:A-102",)))
    alerts.deliver(body)
    assert alerts.deliver(body, body) == {"batchItemFailures": []}
    assert len(alerts.email.sent) == 1


def test_a_failure_for_now_reports_that_record_and_backs_it_off(alerts: Alerts) -> None:
    alerts.chat.fail_with[TOKYO_CHAT] = RetryableSendError("chat webhook answered 503")
    failing = sns_envelope(an_alert("opened", to=("branch:tokyo-chuo",)))
    fine = sns_envelope(an_alert("resolved", to=("agent:A-102",)))
    assert alerts.deliver(failing, fine, receive_count=3) == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert alerts.visibility.delays == [("receipt-0", 120)]            # 30 s x 2^(3-1)
    assert [address for address, _ in alerts.email.sent] == ["tokyo-chuo@example.jp", "a-102@example.jp"]


def test_the_last_receive_dead_letters_with_the_reason(alerts: Alerts) -> None:
    alerts.chat.fail_with[TOKYO_CHAT] = RetryableSendError("chat webhook answered 503")
    body = sns_envelope(an_alert("opened", to=("branch:tokyo-chuo",)))
    assert alerts.deliver(body, receive_count=5) == {"batchItemFailures": []}
    [letter] = alerts.dead_letters.letters
    assert letter["source_id"] == "msg-0" and letter["reason"].startswith("gave up after 5 attempts")
    assert alerts.visibility.delays == []


def test_a_message_that_is_not_an_alert_is_dead_lettered_at_once(alerts: Alerts) -> None:
    alarm = json.dumps({"Type": "Notification", "Message": "{\"AlarmName\": \"koe-dev-intake-dlq-not-empty\"}"})
    assert alerts.deliver(alarm) == {"batchItemFailures": []}
    [letter] = alerts.dead_letters.letters
    assert letter["reason"].startswith("InvalidAlert: AlarmName: not a field of the alert; agent_id: required")


def test_a_permanently_refused_destination_does_not_fail_the_record(alerts: Alerts) -> None:
    alerts.chat.fail_with[TOKYO_CHAT] = UndeliverableRecipient("http_410", "webhook refused", carrier="chat")
    body = sns_envelope(an_alert("opened", to=("branch:tokyo-chuo",)))
    assert alerts.deliver(body) == {"batchItemFailures": []}
    assert alerts.dead_letters.letters == [] and alerts.visibility.delays == []
    assert [address for address, _ in alerts.email.sent] == ["tokyo-chuo@example.jp"]
