"""Deliver CX alerts to people: each record of the alert deliveries queue is one case alert
(domain/case_alerts.py; SNS's JSON envelope, or a bare alert), sent by email and chat to every
destination domain/alert_delivery.py plans for it, once per destination.

Per record:
1. Read and validate it (`deps.read`): a message that is not a case alert is InvalidAlert, which
   services/batch.py dead-letters at once with the reason.
2. Plan: the alert's recipients through the routing table, then the subscribers whose filter matches.
   A recipient the table cannot resolve is logged and counted once per alert
   (AlertRecipientUnresolved; the ledger remembers it) and central hears in its place.
3. Skip the destinations the ledger says are finished; for each other one: claim it (a claim outlives
   a crashed sender by LEASE at most), render it in its language and time zone, send, record:
   - sent: `delivered` (AlertDelivered{kind});
   - a PermanentError (an address SES refuses, a revoked or deleted webhook, no email sender
     configured): logged, counted (AlertUndeliverable{kind}) and recorded `given_up`, so neither a
     retry nor a replay tries it again; it does not fail the record;
   - anything else (RetryableError: throttling, 5xx, timeouts; or a fault of ours): recorded
     `failed` (claimable again at once), counted (AlertDeliveryFailed{kind});
   - claimed by another invocation (a second copy of the alert, delivered in parallel): left to it.
   When a destination failed or was busy, the record fails with AlertDeliveryIncomplete once every
   destination has been tried: SQS delivers it again, and only the unfinished destinations are tried.
   When the only unfinished ones are busy (AlertDestinationsBusy), it comes back no sooner than the
   claim's LEASE, which a sender that died leaves behind.
4. The batch: each record that failed comes back after an exponential backoff (its visibility is set
   to base x 2^(receives-1), capped); the `max_receives`-th failing receive dead-letters it with its
   last reason (services/batch.py), the queue's redrive policy as a backstop.

The one duplicate window: a crash (or a ledger write that fails) after a send and before its record.
The claim then expires after LEASE and a retry sends that one destination again.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib.domain import alert_delivery
from chalicelib.domain.alert_delivery import (
    DELIVERED,
    FAILED,
    GIVEN_UP,
    AlertContent,
    Destination,
    Subscriber,
    delivery_id,
    unresolved_id,
)
from chalicelib.domain.case_routing import RoutingTable
from chalicelib.errors import (
    AlertDeliveryIncomplete,
    AlertDestinationsBusy,
    NoSender,
    PermanentError,
    RetryableError,
    UndeliverableRecipient,
)
from chalicelib.observability import count, logger
from chalicelib.services import batch
from chalicelib.services.batch import QueueRecord
from chalicelib.services.budget import UNLIMITED, Budget
from chalicelib.services.ports import AlertLedger, AlertTemplates, AlertTransport, DeadLetters, QueueVisibility

# Longer than an invocation (30 s): a claim outlives its sender only when the sender crashed.
LEASE = timedelta(minutes=2)
# After a destination took the alert: its record is written again after these pauses (seconds).
RECORD_RETRIES = (0.2, 0.5, 1.0)
BACKOFF_CAP_S = 15 * 60


@dataclass(frozen=True)
class AlertDeps:
    read: Callable[[str], dict[str, Any]]       # the valid alert in a queue message; InvalidAlert otherwise
    routing: RoutingTable                       # KOE_CASE_ROUTING
    subscribers: Sequence[Subscriber]           # KOE_ALERT_SUBSCRIBERS
    templates: AlertTemplates
    transports: Mapping[str, AlertTransport]    # email, chat (no email without KOE_EMAIL_FROM)
    ledger: AlertLedger
    dead_letters: DeadLetters
    visibility: QueueVisibility
    clock: Callable[[], datetime]
    max_receives: int = 5
    retry_base_s: int = 30
    retry_cap_s: int = BACKOFF_CAP_S
    lease: timedelta = LEASE                    # KOE_ALERT_LEASE_SECONDS
    sleep: Callable[[float], None] = time.sleep     # between the tries of a delivery's record


def deliver_batch(records: Sequence[QueueRecord], deps: AlertDeps, budget: Budget = UNLIMITED) -> list[str]:
    """Deliver each record's alert; returns the message ids SQS must deliver again, each set to
    come back after its backoff (a record the invocation had no time left for, too)."""
    busy: set[str] = set()          # bodies whose only unfinished destinations are claimed elsewhere

    def attempt(body: str) -> dict[str, int]:
        try:
            return deliver(body, deps)
        except AlertDestinationsBusy:
            busy.add(body)
            raise

    failures = batch.process(records, attempt, deps.dead_letters, deps.max_receives, budget=budget)
    retried = set(failures)
    for record in records:
        if record.message_id in retried:
            back_off(record, deps, at_least_s=int(deps.lease.total_seconds()) + 1 if record.body in busy else 0)
    return failures


def back_off(record: QueueRecord, deps: AlertDeps, at_least_s: int = 0) -> None:
    """The record becomes visible again after base x 2^(receives-1) seconds (capped), and not before
    `at_least_s` (a claim elsewhere: its lease). If SQS refuses, it comes back after the queue's own
    visibility timeout: said, counted, not fatal."""
    if not record.receipt_handle:
        return
    delay = max(at_least_s, alert_delivery.retry_delay(record.receive_count, deps.retry_base_s, deps.retry_cap_s))
    try:
        deps.visibility.delay(record.receipt_handle, delay)
    except Exception as exc:  # noqa: BLE001 - the retry still happens, only later
        logger.warning("could not back the record off", extra={
            "message_id": record.message_id, "delay_s": delay, "error": type(exc).__name__})
        count("AlertBackoffFailed")
        return
    logger.info("record backs off", extra={"message_id": record.message_id, "attempt": record.receive_count,
                                           "delay_s": delay})


@dataclass
class _Delivery:
    """One alert being delivered: what was rendered, what became of each destination."""

    message: dict[str, Any]
    deps: AlertDeps
    tally: Counter[str] = field(default_factory=Counter)
    rendered: dict[tuple[str, str], AlertContent] = field(default_factory=dict)

    @property
    def alert_id(self) -> str:
        return str(self.message["alert_id"])

    def content(self, destination: Destination) -> AlertContent:
        key = (destination.language, destination.timezone)
        if key not in self.rendered:
            self.rendered[key] = self.deps.templates.render(self.message, *key)
        return self.rendered[key]


def deliver(body: str, deps: AlertDeps) -> dict[str, int]:
    """Deliver one alert to every destination not finished yet; returns how many were delivered,
    skipped (finished before), given up, failed or busy. AlertDeliveryIncomplete when some failed."""
    job = _Delivery(deps.read(body), deps)
    plan = alert_delivery.destinations(job.message, deps.routing, deps.subscribers)
    ids = {d.key: delivery_id(job.alert_id, d.key) for d in plan.destinations}
    missing = {address: unresolved_id(job.alert_id, address) for address in plan.unresolved}
    finished = deps.ledger.delivered([*ids.values(), *missing.values()])
    for address, ledger_id in missing.items():
        if ledger_id not in finished:
            _unresolved(job, address, ledger_id)
    if not plan.destinations:
        logger.error("case alert reached no one", extra={"alert_id": job.alert_id, "event": job.message["event"]})
        count("AlertUnrouted")
    for destination in plan.destinations:
        if ids[destination.key] in finished:
            job.tally["skipped"] += 1
        else:
            job.tally[_deliver_one(job, destination, ids[destination.key])] += 1
    if job.tally["busy"] and not job.tally["failed"]:
        raise AlertDestinationsBusy(f"{job.tally['busy']} in progress elsewhere, of {len(plan.destinations)} "
                                    "destinations")
    if job.tally["failed"] or job.tally["busy"]:
        raise AlertDeliveryIncomplete(f"{job.tally['failed']} failed and {job.tally['busy']} in progress elsewhere, "
                                      f"of {len(plan.destinations)} destinations")
    return dict(job.tally)


def _unresolved(job: _Delivery, address: str, ledger_id: str) -> None:
    """Logged and counted once per alert; central hears in its place (domain/alert_delivery.py)."""
    logger.warning("alert recipient has no contact point in the routing table; central hears instead",
                   extra={"alert_id": job.alert_id, "recipient": address})
    count("AlertRecipientUnresolved")
    job.deps.ledger.record(ledger_id, GIVEN_UP, job.deps.clock(), "unresolved")
    job.tally["unresolved"] += 1


def _deliver_one(job: _Delivery, destination: Destination, ledger_id: str) -> str:
    deps = job.deps
    where = {"alert_id": job.alert_id, "destination": destination.key, "kind": destination.kind,
             "for": destination.source}
    if not deps.ledger.begin(ledger_id, deps.clock(), deps.lease):
        logger.info("alert destination is being delivered elsewhere", extra=where)
        return "busy"
    try:
        transport = deps.transports.get(destination.kind)
        if transport is None:
            raise NoSender(destination.kind)
        transport.deliver(destination.address, job.content(destination))
    except PermanentError as exc:
        deps.ledger.record(ledger_id, GIVEN_UP, deps.clock(), _reason(exc))
        logger.error("alert undeliverable to this destination, given up", extra={**where, "reason": _reason(exc)})
        count("AlertUndeliverable", kind=destination.kind)
        return "given_up"
    except Exception as exc:  # noqa: BLE001 - any other fault: this destination is retried later
        deps.ledger.record(ledger_id, FAILED, deps.clock(), _reason(exc))
        logger.warning("alert delivery failed for now", extra={**where, "reason": _reason(exc)})
        count("AlertDeliveryFailed", kind=destination.kind)
        return "failed"
    _record_delivered(deps, ledger_id, where)
    logger.info("alert delivered", extra=where)
    count("AlertDelivered", kind=destination.kind)
    return "delivered"


def _record_delivered(deps: AlertDeps, ledger_id: str, where: Mapping[str, str]) -> None:
    """The one write that must not be lost once the alert went out: tried again in the function
    (a store that keeps failing leaves the claim to its lease: the named duplicate window)."""
    for pause in (*RECORD_RETRIES, None):
        try:
            deps.ledger.record(ledger_id, DELIVERED, deps.clock())
            return
        except RetryableError:
            if pause is None:
                count("AlertDeliveryNotRecorded")
                logger.error("alert delivered, its record not written: sent again after the lease", extra=where)
                raise
            deps.sleep(pause)


def _reason(exc: Exception) -> str:
    """A short code for the ledger and the logs: the error's name and its carrier's code (errors
    of koe's adapters carry no address, no URL and no message text)."""
    if isinstance(exc, UndeliverableRecipient):
        return f"{exc.carrier}_{exc.code}"
    if isinstance(exc, NoSender):
        return f"no_sender:{exc.channel}"
    return f"{type(exc).__name__}: {exc}"[:200]
