"""Delivering CX alerts to people, on fakes: once per destination however often an alert comes, a
failure for now retries only what failed, a permanent failure is given up (and said), an unknown
recipient is counted and central hears, and the batch backs failed records off."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.adapters.alert_messages import read_alert
from chalicelib.adapters.alert_templates import TomlAlerts
from chalicelib.domain import case_routing
from chalicelib.domain.alert_delivery import (
    DELIVERED,
    FAILED,
    GIVEN_UP,
    Subscriber,
    delivery_id,
    destination_key,
    unresolved_id,
)
from chalicelib.domain.case_routing import ContactPoint
from chalicelib.domain.cases import Severity
from chalicelib.errors import AlertDeliveryIncomplete, RecipientOptedOut, RetryableSendError, UndeliverableRecipient
from chalicelib.observability import flush
from chalicelib.services.batch import QueueRecord
from chalicelib.services.deliver_alerts import LEASE, AlertDeps, deliver, deliver_batch
from chalicelib.settings import REPO_ROOT
from tests.fakes.alert_delivery import (
    CX_CHAT,
    ROUTING_JSON,
    TOKYO_CHAT,
    FakeAlertLedger,
    FakeTransport,
    FakeVisibility,
    an_alert,
    sns_envelope,
)
from tests.fakes.messaging import FakeDeadLetters
from tests.services.conftest import Clock

OPS_CHAT = "https://chat.example.jp/hooks/T0001/B0003/ops"
OPS = Subscriber("cx-ops", ContactPoint(chat=OPS_CHAT, language="en", timezone="America/New_York"),
                 {"severity": frozenset({"high", "critical"})})
ALERT = an_alert("opened", to=("agent:A-102", "branch:tokyo-chuo"))
BODY = sns_envelope(ALERT)


@dataclass
class World:
    clock: Clock = field(default_factory=Clock)
    email: FakeTransport = field(default_factory=FakeTransport)
    chat: FakeTransport = field(default_factory=FakeTransport)
    ledger: FakeAlertLedger = field(default_factory=FakeAlertLedger)
    dead_letters: FakeDeadLetters = field(default_factory=FakeDeadLetters)
    visibility: FakeVisibility = field(default_factory=FakeVisibility)
    subscribers: tuple[Subscriber, ...] = (OPS,)
    routing: dict[str, Any] = field(default_factory=lambda: ROUTING_JSON)
    with_email: bool = True

    @property
    def deps(self) -> AlertDeps:
        transports = {"chat": self.chat, **({"email": self.email} if self.with_email else {})}
        return AlertDeps(read=read_alert, routing=case_routing.parse(self.routing), subscribers=self.subscribers,
                         templates=TomlAlerts(REPO_ROOT / "templates"), transports=transports, ledger=self.ledger,
                         dead_letters=self.dead_letters, visibility=self.visibility, clock=self.clock,
                         sleep=lambda seconds: None)

    def deliver(self, body: str = BODY) -> dict[str, int]:
        return deliver(body, self.deps)

    def sent(self) -> list[str]:
        return [a for a, _ in self.email.sent] + [a for a, _ in self.chat.sent]


def outcome(world: World, kind: str, address: str, alert: dict[str, Any] = ALERT) -> str | None:
    return world.ledger.outcome(delivery_id(alert["alert_id"], destination_key(kind, address)))


def metrics(capfd: pytest.CaptureFixture[str]) -> list[str]:
    """The metric names koe emitted (CloudWatch's embedded metric format on stdout)."""
    flush()
    names = []
    for line in capfd.readouterr().out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            for block in json.loads(line)["_aws"]["CloudWatchMetrics"]:
                names += [m["Name"] for m in block["Metrics"]]
    return names


@pytest.fixture
def world() -> World:
    return World()


# --- once per destination ---------------------------------------------------------------------------

def test_an_alert_reaches_each_recipient_and_matching_subscriber_in_their_language(world: World) -> None:
    assert world.deliver() == {"delivered": 4}
    assert [a for a, _ in world.email.sent] == ["a-102@example.jp", "tokyo-chuo@example.jp"]
    assert [a for a, _ in world.chat.sent] == [TOKYO_CHAT, OPS_CHAT]
    (agent_email,) = world.email.to("a-102@example.jp")
    assert agent_email.subject.startswith("【koe】新しいフォロー案件")
    (ops,) = world.chat.to(OPS_CHAT)
    assert ops.subject.startswith("[koe] New case") and "(America/New_York)" in ops.body
    assert outcome(world, "email", "a-102@example.jp") == DELIVERED
    assert outcome(world, "chat", OPS_CHAT) == DELIVERED


def test_a_replayed_alert_is_delivered_once_per_destination(world: World) -> None:
    world.deliver()
    assert world.deliver() == {"skipped": 4}
    assert world.deliver(json.dumps(ALERT)) == {"skipped": 4}         # the same alert, bare
    assert len(world.sent()) == 4


def test_the_same_event_happening_again_is_another_alert(world: World) -> None:
    world.deliver()
    again = an_alert("opened", to=("agent:A-102", "branch:tokyo-chuo"), occurrence="2026-11-30T00:00:00+00:00")
    assert world.deliver(sns_envelope(again)) == {"delivered": 4}
    assert len(world.sent()) == 8


def test_a_subscriber_whose_filter_does_not_match_hears_nothing(world: World) -> None:
    alert = an_alert("opened", to=("agent:A-102",), severity=Severity.NORMAL)
    assert world.deliver(sns_envelope(alert)) == {"delivered": 1}
    assert world.chat.sent == []


# --- failures -----------------------------------------------------------------------------------------

def test_a_failure_for_now_retries_only_the_destination_that_failed(world: World) -> None:
    world.chat.fail_with[TOKYO_CHAT] = RetryableSendError("chat webhook answered 503")
    with pytest.raises(AlertDeliveryIncomplete, match="1 failed"):
        world.deliver()
    assert outcome(world, "chat", TOKYO_CHAT) == FAILED
    assert len(world.sent()) == 3

    del world.chat.fail_with[TOKYO_CHAT]
    world.chat.attempts.clear()
    world.email.attempts.clear()
    assert world.deliver() == {"skipped": 3, "delivered": 1}
    assert world.chat.attempts == [TOKYO_CHAT] and world.email.attempts == []
    assert outcome(world, "chat", TOKYO_CHAT) == DELIVERED


def test_a_missing_template_is_a_fault_of_ours_given_up_for_that_destination(world: World) -> None:
    world.subscribers = (Subscriber("fr", ContactPoint(chat=OPS_CHAT, language="fr")),)   # no such templates
    world.deliver()                   # retrying cannot help until templates/ is fixed: the others go out
    assert outcome(world, "chat", OPS_CHAT) == GIVEN_UP
    assert "TemplateError" in (world.ledger.entries[delivery_id(ALERT["alert_id"],
                                                                destination_key("chat", OPS_CHAT))]["reason"])


def test_a_permanent_failure_is_given_up_counted_and_never_tried_again(
        world: World, capfd: pytest.CaptureFixture[str]) -> None:
    world.chat.fail_with[TOKYO_CHAT] = UndeliverableRecipient("http_404", "webhook refused", carrier="chat")
    world.email.fail_with["a-102@example.jp"] = RecipientOptedOut("ses: on the suppression list")
    assert world.deliver() == {"given_up": 2, "delivered": 2}       # the record succeeds: retrying cannot help
    assert outcome(world, "chat", TOKYO_CHAT) == GIVEN_UP
    entry = world.ledger.entries[delivery_id(ALERT["alert_id"], destination_key("chat", TOKYO_CHAT))]
    assert entry["reason"] == "chat_http_404"
    assert metrics(capfd).count("AlertUndeliverable") == 2

    world.chat.attempts.clear()
    assert world.deliver() == {"skipped": 4}
    assert world.chat.attempts == []


def test_without_an_email_sender_email_destinations_are_given_up_and_chat_still_goes(world: World) -> None:
    world.with_email = False
    assert world.deliver() == {"given_up": 2, "delivered": 2}
    entry = world.ledger.entries[delivery_id(ALERT["alert_id"], destination_key("email", "a-102@example.jp"))]
    assert entry["reason"] == "no_sender:email"
    assert [a for a, _ in world.chat.sent] == [TOKYO_CHAT, OPS_CHAT]


def test_an_unresolvable_recipient_is_counted_once_and_central_hears_instead(
        world: World, capfd: pytest.CaptureFixture[str]) -> None:
    alert = an_alert("breach", to=("person:mgr-gone",))
    world.subscribers = ()
    assert world.deliver(sns_envelope(alert)) == {"unresolved": 1, "delivered": 2}
    assert [a for a, _ in world.email.sent] == ["cx@example.jp"] and [a for a, _ in world.chat.sent] == [CX_CHAT]
    assert world.ledger.outcome(unresolved_id(alert["alert_id"], "person:mgr-gone")) == GIVEN_UP
    world.deliver(sns_envelope(alert))
    emitted = metrics(capfd)
    assert emitted.count("AlertRecipientUnresolved") == 1
    out_of_reach = World(routing={"central": {"queue": "cx"}}, subscribers=())
    assert out_of_reach.deliver(sns_envelope(alert)) == {"unresolved": 1}
    assert "AlertUnrouted" in metrics(capfd)


def test_a_destination_another_invocation_is_delivering_is_left_to_it_then_checked(world: World) -> None:
    tokyo = delivery_id(ALERT["alert_id"], destination_key("chat", TOKYO_CHAT))
    assert world.ledger.begin(tokyo, world.clock.now, LEASE)          # a parallel copy claimed it
    with pytest.raises(AlertDeliveryIncomplete, match="1 in progress elsewhere"):
        world.deliver()
    assert TOKYO_CHAT not in world.chat.attempts
    world.ledger.record(tokyo, DELIVERED, world.clock.now)            # ... and delivered it
    assert world.deliver() == {"skipped": 4}
    assert TOKYO_CHAT not in world.chat.attempts


def test_a_delivered_alerts_record_is_written_again_in_the_function_so_it_is_not_sent_twice(world: World) -> None:
    from chalicelib.errors import StorageThrottled

    refusals = {"left": 3}
    original = world.ledger.record

    def throttled(delivery_id, outcome, at, reason=None):  # type: ignore[no-untyped-def]
        if outcome == DELIVERED and refusals["left"]:
            refusals["left"] -= 1
            raise StorageThrottled("ProvisionedThroughputExceededException")
        return original(delivery_id, outcome, at, reason)

    world.ledger.record = throttled  # type: ignore[method-assign]
    assert world.deliver() == {"delivered": 4}
    world.clock.advance(seconds=LEASE.total_seconds() + 1)
    assert world.deliver() == {"skipped": 4}
    assert len(world.sent()) == 4


def test_a_claim_left_by_a_crashed_invocation_expires_and_the_destination_is_delivered(world: World) -> None:
    tokyo = delivery_id(ALERT["alert_id"], destination_key("chat", TOKYO_CHAT))
    world.ledger.begin(tokyo, world.clock.now, LEASE)                 # claimed, then the sender crashed
    with pytest.raises(AlertDeliveryIncomplete):
        world.deliver()
    world.clock.advance(seconds=LEASE.total_seconds() + 1)
    assert world.deliver() == {"skipped": 3, "delivered": 1}
    assert world.chat.attempts.count(TOKYO_CHAT) == 1


def test_logs_name_destinations_by_key_never_by_address(world: World, caplog: pytest.LogCaptureFixture) -> None:
    world.chat.fail_with[OPS_CHAT] = RetryableSendError("chat webhook answered 500")
    with pytest.raises(AlertDeliveryIncomplete):
        world.deliver()
    logged = " ".join(str(r.__dict__) for r in caplog.records if r.name == "koe")
    assert destination_key("chat", OPS_CHAT) in logged and "subscriber:cx-ops" in logged
    for secret in ("example.jp", "hooks", "payout", "+1******0123"):
        assert secret not in logged


# --- the batch: dead letters and backoff ------------------------------------------------------------

def record(body: str, n: int = 0, receive_count: int = 1) -> QueueRecord:
    return QueueRecord(f"msg-{n}", body, receive_count, f"receipt-{n}")


def test_an_unreadable_message_is_dead_lettered_at_once_with_the_reason(world: World) -> None:
    failures = deliver_batch([record("koe: score 3 on claim_payment", 0), record(BODY, 1)], world.deps)
    assert failures == []
    (letter,) = world.dead_letters.letters
    assert letter["source_id"] == "msg-0" and letter["reason"].startswith("InvalidAlert: (message): not JSON")
    assert len(world.sent()) == 4 and world.visibility.delays == []


@pytest.mark.parametrize("receive_count, delay", [(1, 30), (2, 60), (3, 120), (4, 240)])
def test_a_failed_record_backs_off_exponentially(world: World, receive_count: int, delay: int) -> None:
    world.chat.fail_with[TOKYO_CHAT] = RetryableSendError("chat webhook answered 429")
    assert deliver_batch([record(BODY, 0, receive_count)], world.deps) == ["msg-0"]
    assert world.visibility.delays == [("receipt-0", delay)]
    assert world.dead_letters.letters == []


def test_a_record_whose_only_unfinished_destination_is_claimed_elsewhere_waits_for_the_claims_lease(
        world: World) -> None:
    """A sender that died leaves its claim until LEASE: coming back sooner would only meet it again
    and spend the record's deliveries until it is dead-lettered."""
    tokyo = delivery_id(ALERT["alert_id"], destination_key("chat", TOKYO_CHAT))
    world.ledger.begin(tokyo, world.clock.now, LEASE)
    assert deliver_batch([record(BODY, 0, receive_count=1)], world.deps) == ["msg-0"]
    assert world.visibility.delays == [("receipt-0", int(LEASE.total_seconds()) + 1)]
    assert world.dead_letters.letters == []


def test_the_fifth_failing_receive_dead_letters_the_record_with_its_last_reason(world: World) -> None:
    world.chat.fail_with[TOKYO_CHAT] = RetryableSendError("chat webhook answered 503")
    assert deliver_batch([record(BODY, 0, receive_count=5)], world.deps) == []
    (letter,) = world.dead_letters.letters
    assert letter["reason"].startswith("gave up after 5 attempts: AlertDeliveryIncomplete: 1 failed")
    assert world.visibility.delays == []
    # Redriven later, it delivers only what is left.
    del world.chat.fail_with[TOKYO_CHAT]
    world.email.attempts.clear()
    assert deliver_batch([record(letter["body"], 1)], world.deps) == []
    assert world.email.attempts == [] and world.chat.attempts[-1] == TOKYO_CHAT


def test_when_sqs_refuses_the_backoff_the_record_still_comes_back(
        world: World, capfd: pytest.CaptureFixture[str]) -> None:
    world.chat.fail_with[TOKYO_CHAT] = RetryableSendError("chat webhook answered 503")
    world.visibility.refuse = True
    assert deliver_batch([record(BODY)], world.deps) == ["msg-0"]
    assert "AlertBackoffFailed" in metrics(capfd)


def test_one_bad_record_never_holds_back_the_others(world: World) -> None:
    other = sns_envelope(an_alert("resolved", to=("person:cx-lead",)))
    world.chat.fail_with[TOKYO_CHAT] = RetryableSendError("chat webhook answered 503")
    assert deliver_batch([record(BODY, 0), record(other, 1)], world.deps) == ["msg-0"]
    (lead,) = world.email.to("cx-lead@example.jp")
    assert lead.subject == "[koe] Case resolved: claim payment (tokyo-chuo)"
    assert world.visibility.delays == [("receipt-0", 30)]


def test_ledger_requests_per_alert(world: World) -> None:
    world.deliver()
    assert world.ledger.requests == 1 + 2 * 4          # one read, then a claim and a record per destination
    world.ledger.requests = 0
    world.deliver()
    assert world.ledger.requests == 1                  # a replay costs one read


def test_lease_is_longer_than_an_invocation() -> None:
    assert LEASE > timedelta(seconds=30)
