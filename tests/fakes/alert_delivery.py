"""Fakes of the ports CX alert delivery uses (services/ports.py): the ledger (checked against
DynamoDB by tests/integration/test_alert_ledger_contract.py), the two transports, the queue's
visibility. State is public so a test can arrange a Given and read a Then directly. And samples: a
case, its alert as case_alerts builds it, the SNS envelope, a routing table (fictional people)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.domain import case_alerts
from chalicelib.domain.alert_delivery import FAILED, FINISHED, AlertContent
from chalicelib.domain.cases import Case, Owner, OwnerKind, Severity

SENDING = "sending"


@dataclass
class FakeAlertLedger:
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)   # delivery_id -> outcome, lease, reason
    requests: int = 0

    def outcome(self, delivery_id: str) -> str | None:
        entry = self.entries.get(delivery_id)
        return entry["outcome"] if entry else None

    def delivered(self, delivery_ids: list[str] | tuple[str, ...]) -> set[str]:
        self.requests += 1
        return {i for i in delivery_ids if self.outcome(i) in FINISHED}

    def begin(self, delivery_id: str, now: datetime, lease: timedelta) -> bool:
        self.requests += 1
        entry = self.entries.get(delivery_id)
        claimable = (entry is None or entry["outcome"] == FAILED
                     or (entry["outcome"] == SENDING and entry["lease_until"] < now))
        if claimable:
            self.entries[delivery_id] = {"outcome": SENDING, "lease_until": now + lease, "reason": None, "at": now}
        return claimable

    def record(self, delivery_id: str, outcome: str, now: datetime, reason: str | None = None) -> None:
        self.requests += 1
        self.entries[delivery_id] = {"outcome": outcome, "lease_until": None, "reason": reason, "at": now}


@dataclass
class FakeTransport:
    """A chat webhook or the alert email, as the AlertTransport port sees it: keeps what it delivered.
    `fail_with[address]` raises that error for the address (every time, until removed)."""

    sent: list[tuple[str, AlertContent]] = field(default_factory=list)
    fail_with: dict[str, Exception] = field(default_factory=dict)
    attempts: list[str] = field(default_factory=list)

    def deliver(self, address: str, content: AlertContent) -> None:
        self.attempts.append(address)
        if address in self.fail_with:
            raise self.fail_with[address]
        self.sent.append((address, content))

    def to(self, address: str) -> list[AlertContent]:
        return [content for a, content in self.sent if a == address]


@dataclass
class FakeVisibility:
    delays: list[tuple[str, int]] = field(default_factory=list)     # (receipt handle, seconds)
    refuse: bool = False
    removed: list[str] = field(default_factory=list)                # receipt handles deleted

    def remove(self, receipt_handle: str) -> None:
        if self.refuse:
            from chalicelib.errors import RetryableError

            raise RetryableError("receipt handle expired")
        self.removed.append(receipt_handle)

    def delay(self, receipt_handle: str, seconds: int) -> None:
        if self.refuse:
            from chalicelib.errors import RetryableError

            raise RetryableError("receipt handle expired")
        self.delays.append((receipt_handle, seconds))


# --- samples: a case, its alert, a routing table (fictional people, example.jp) -------------------

AT = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)
TOKYO_CHAT = "https://chat.example.jp/hooks/T0001/B0001/tokyo"
CX_CHAT = "https://chat.example.jp/hooks/T0001/B0002/cx"
ROUTING_JSON: dict[str, Any] = {
    "central": {"queue": "cx", "lead": "cx-lead", "email": "cx@example.jp", "chat": CX_CHAT, "language": "ja",
                "timezone": "Asia/Tokyo"},
    "branches": {"tokyo-chuo": {"manager": "mgr-tokyo", "email": "tokyo-chuo@example.jp", "chat": TOKYO_CHAT,
                                "language": "ja", "timezone": "Asia/Tokyo"},
                 "shanghai-01": {"manager": "mgr-shanghai", "email": "shanghai@example.jp", "language": "zh",
                                 "timezone": "Asia/Shanghai"}},
    "agents": {"A-102": {"branch": "tokyo-chuo", "active": True}, "A-210": {"branch": "shanghai-01"}},
    "people": {"A-102": {"email": "a-102@example.jp", "language": "ja", "timezone": "Asia/Tokyo"},
               "A-210": {"email": "a-210@example.jp", "language": "zh", "timezone": "Asia/Shanghai"},
               "mgr-tokyo": {"email": "mgr-tokyo@example.jp", "language": "ja", "timezone": "Asia/Tokyo"},
               "cx-lead": {"email": "cx-lead@example.jp", "language": "en", "timezone": "America/New_York"}},
}


def a_case(**changes: Any) -> Case:
    case = Case(
        case_id="claims-2026-000123-paid", survey_id="claims-2026-000123-paid", procedure="claim_payment",
        customer_id="C-88123", score=3, opened_at=AT, first_contact_due=AT + timedelta(hours=8),
        resolution_due=AT + timedelta(days=4), context={"branch": "tokyo-chuo", "agent_id": "A-102"},
        phone_masked="+1******0123", comment="The payout took three weeks.", locale="en", severity=Severity.HIGH,
        reasons=("score", "keyword"), callback_consent=True, owner=Owner(OwnerKind.AGENT, "A-102"),
        customer_timezone="America/New_York", owner_timezone="Asia/Tokyo")
    return replace(case, **changes)


def an_alert(event: str = "opened", to: tuple[str, ...] = ("agent:A-102",), occurrence: str = "",
             **case_changes: Any) -> dict[str, Any]:
    return case_alerts.alert(a_case(**case_changes), event, to, AT, occurrence)


def sns_envelope(message: dict[str, Any]) -> str:
    """The body SNS hands an SQS subscriber without raw delivery (an SQS message's Body)."""
    attributes = case_alerts.attributes(message)
    return json.dumps({
        "Type": "Notification", "MessageId": "0f4bd3a6-1c1e-5c37-9e8a-2f8b1f1f0001",
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:koe-dev-cx-alerts",
        "Subject": f"koe case alert: {message['event']}", "Message": json.dumps(message, ensure_ascii=False),
        "Timestamp": "2026-11-21T01:20:00.000Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        "MessageAttributes": {k: {"Type": "String", "Value": v} for k, v in attributes.items() if v},
    }, ensure_ascii=False)
