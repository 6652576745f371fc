"""Intake over HTTP: validate each event, enqueue the valid ones, answer with a status per event.

Per event: `accepted` (queued; the same event again is accepted again, and dispatch surveys it
once), `rejected` (every bad field named), `duplicate_in_request`, `conflict` (this event_id was
already sent with another payload: the first is kept, this one is not queued) or `retry` (the
queue did not take it). The request's outcome is named here; the HTTP edge maps it to a status.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from chalicelib.domain.events import fingerprint
from chalicelib.errors import InvalidRequest
from chalicelib.observability import count, logger
from chalicelib.services.ports import EventLedger, IntakeQueue

MAX_EVENTS = 100
STATUSES = ("accepted", "rejected", "conflict", "retry")

# One event's problems as [{"field", "problem"}], empty when valid (the JSON Schema, at the edge).
EventCheck = Callable[[Any], list[dict[str, str]]]
Outcome = Literal["accepted", "retry", "conflict", "rejected"]
CONFLICT = {"field": "event_id", "problem": "was already sent with another payload; the first one is kept"}


@dataclass(frozen=True)
class IngestDeps:
    queue: IntakeQueue
    check: EventCheck
    ledger: EventLedger
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class IngestAnswer:
    outcome: Outcome
    body: dict[str, Any]


def _events_of(body: Any) -> tuple[list[Any], bool]:
    """The events of a request and whether it was a batch; InvalidRequest for anything else."""
    if isinstance(body, dict) and "events" in body:
        unknown = sorted(set(body) - {"events"})
        if unknown:      # a misspelt field must not pass silently, beside "events" as inside an event
            raise InvalidRequest(f"not a field of the request: {', '.join(unknown)} (only \"events\")",
                                 fields=unknown)
        events = body["events"]
        if not isinstance(events, list) or not events:
            raise InvalidRequest("events must be a non-empty list")
        if len(events) > MAX_EVENTS:
            raise InvalidRequest(f"at most {MAX_EVENTS} events per request, got {len(events)}")
        return events, True
    if isinstance(body, dict):
        return [body], False
    raise InvalidRequest("the body must be one event or {\"events\": [...]}")


def _status(index: int, event: Any, seen: dict[Any, str], check: EventCheck) -> dict[str, Any]:
    # Only a string is an event id: anything else sent in its place is not echoed back (the answer's
    # event_id is a string or null, docs/openapi.yaml).
    sent = event.get("event_id") if isinstance(event, dict) else None
    event_id = sent if isinstance(sent, str) else None
    errors = check(event)
    if errors:
        return {"index": index, "event_id": event_id, "status": "rejected", "errors": errors}
    printed = fingerprint(event)
    if event_id in seen:
        if seen[event_id] != printed:
            return {"index": index, "event_id": event_id, "status": "conflict", "errors": [CONFLICT]}
        return {"index": index, "event_id": event_id, "status": "duplicate_in_request"}
    seen[event_id] = printed
    return {"index": index, "event_id": event_id, "status": "accepted", "fingerprint": printed}


def ingest(body: Any, deps: IngestDeps) -> IngestAnswer:
    events, is_batch = _events_of(body)
    seen: dict[Any, str] = {}
    results = [_status(i, e, seen, deps.check) for i, e in enumerate(events)]
    valid = [r for r in results if r["status"] == "accepted"]
    conflicts = deps.ledger.record_first([(r["event_id"], r.pop("fingerprint")) for r in valid], deps.clock())
    for result in valid:
        if result["event_id"] in conflicts:
            result.update(status="conflict", errors=[CONFLICT])
    accepted = [r for r in valid if r["status"] == "accepted"]
    for index in deps.queue.enqueue([events[r["index"]] for r in accepted]):
        accepted[index].update(status="retry",
                               errors=[{"field": "(event)", "problem": "queue unavailable, send again"}])
    tally = {s: sum(r["status"] == s for r in results) for s in STATUSES}
    logger.info("events received", extra={"events": len(events), **tally})
    for result in results:
        if result["status"] == "conflict":      # the event id only: never the payload
            logger.warning("event id sent again with another payload", extra={"event_id": result["event_id"]})
    for status, n in tally.items():
        if n:
            count(f"Events{status.capitalize()}", value=n)
    body_out = {**tally, "results": results}
    return IngestAnswer(_outcome(tally), body_out if is_batch else {**body_out, **results[0]})


def _outcome(tally: dict[str, int]) -> Outcome:
    if tally["accepted"]:
        return "accepted"
    if tally["retry"]:
        return "retry"
    if tally["conflict"] and not tally["rejected"]:
        return "conflict"
    return "rejected"
