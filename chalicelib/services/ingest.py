"""Intake over HTTP: validate each event, enqueue the valid ones, answer with a status per event."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.adapters.schema import event_errors
from chalicelib.observability import count, logger
from chalicelib.services.ports import IntakeQueue

MAX_EVENTS = 100


@dataclass(frozen=True)
class IngestAnswer:
    status_code: int             # 202 accepted (maybe partly), 400 nothing valid, 503 retry
    body: dict[str, Any]


def _events_of(body: Any) -> tuple[list[Any], bool] | str:
    """The events of a request and whether it was a batch, or the problem with the request."""
    if isinstance(body, dict) and "events" in body:
        events = body["events"]
        if not isinstance(events, list) or not events:
            return "events must be a non-empty list"
        if len(events) > MAX_EVENTS:
            return f"at most {MAX_EVENTS} events per request, got {len(events)}"
        return events, True
    if isinstance(body, dict):
        return [body], False
    return "the body must be one event or {\"events\": [...]}"


def _status(index: int, event: Any, seen: set[str]) -> dict[str, Any]:
    event_id = event.get("event_id") if isinstance(event, dict) else None
    errors = event_errors(event)
    if errors:
        return {"index": index, "event_id": event_id, "status": "rejected", "errors": errors}
    if event_id in seen:
        return {"index": index, "event_id": event_id, "status": "duplicate_in_request"}
    seen.add(event_id)
    return {"index": index, "event_id": event_id, "status": "accepted"}


def ingest(body: Any, queue: IntakeQueue) -> IngestAnswer:
    parsed = _events_of(body)
    if isinstance(parsed, str):
        return IngestAnswer(400, {"error": parsed})
    events, is_batch = parsed
    seen: set[str] = set()
    results = [_status(i, e, seen) for i, e in enumerate(events)]
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
    return IngestAnswer(_status_code(tally), body_out if is_batch else {**body_out, **results[0]})


def _status_code(tally: dict[str, int]) -> int:
    if tally["accepted"]:
        return 202
    if tally["retry"]:
        return 503
    return 400
