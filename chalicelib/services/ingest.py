"""Intake over HTTP: validate each event, enqueue the valid ones, answer with a status per event.

The request's outcome is named here (`accepted`: at least one event queued; `retry`: valid events
the queue did not take; `rejected`: nothing valid); the HTTP edge maps it to a status code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from chalicelib.errors import InvalidRequest
from chalicelib.observability import count, logger
from chalicelib.services.ports import IntakeQueue

MAX_EVENTS = 100

# One event's problems as [{"field", "problem"}], empty when valid (the JSON Schema, at the edge).
EventCheck = Callable[[Any], list[dict[str, str]]]
Outcome = Literal["accepted", "retry", "rejected"]


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


def _status(index: int, event: Any, seen: set[Any], check: EventCheck) -> dict[str, Any]:
    event_id = event.get("event_id") if isinstance(event, dict) else None
    errors = check(event)
    if errors:
        return {"index": index, "event_id": event_id, "status": "rejected", "errors": errors}
    if event_id in seen:
        return {"index": index, "event_id": event_id, "status": "duplicate_in_request"}
    seen.add(event_id)
    return {"index": index, "event_id": event_id, "status": "accepted"}


def ingest(body: Any, queue: IntakeQueue, check: EventCheck) -> IngestAnswer:
    events, is_batch = _events_of(body)
    seen: set[Any] = set()
    results = [_status(i, e, seen, check) for i, e in enumerate(events)]
    accepted = [r for r in results if r["status"] == "accepted"]
    for index in queue.enqueue([events[r["index"]] for r in accepted]):
        accepted[index].update(status="retry",
                               errors=[{"field": "(event)", "problem": "queue unavailable, send again"}])
    tally = {s: sum(r["status"] == s for r in results) for s in ("accepted", "rejected", "retry")}
    logger.info("events received", extra={"events": len(events), **tally})
    for status, n in tally.items():
        if n:
            count(f"Events{status.capitalize()}", value=n)
    body_out = {"accepted": tally["accepted"], "rejected": tally["rejected"], "retry": tally["retry"],
                "results": results}
    return IngestAnswer(_outcome(tally), body_out if is_batch else {**body_out, **results[0]})


def _outcome(tally: dict[str, int]) -> Outcome:
    if tally["accepted"]:
        return "accepted"
    if tally["retry"]:
        return "retry"
    return "rejected"
