"""The "procedure completed" event: the contract with operations systems (docs/event-schema.md).

Validation against the published JSON Schema happens first (adapters/schema.py); this module turns a
valid payload into a typed event and unwraps the EventBridge envelope.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

EVENTBRIDGE_DETAIL_TYPE = "ProcedureCompleted"
# What the published schema allows (schemas/procedure-completed.schema.json; a unit test keeps them
# equal). A survey and its case are named by the event id, so an id longer than this names nothing
# koe stores: the HTTP edge refuses it with a named 400 before any store is asked (DynamoDB would
# refuse a key over 2,048 bytes with a 500).
MAX_EVENT_ID_CHARS = 128
MAX_CONTEXT_VALUE_CHARS = 256            # branch, agent_id, ...
PROCEDURE = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class Customer:
    id: str
    phone: str | None = None
    email: str | None = None
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class ProcedureCompleted:
    event_id: str
    procedure: str
    completed_at: datetime
    customer: Customer
    context: dict[str, str] = field(default_factory=dict)


class NotAnEvent(ValueError):
    """The message body is neither a bare event nor an EventBridge envelope carrying one."""


def unwrap(body: Any) -> Any:
    """The event inside a queue message: bare (HTTP intake) or under `detail` (EventBridge rule)."""
    if isinstance(body, Mapping) and "detail" in body and "detail-type" in body:
        if body["detail-type"] != EVENTBRIDGE_DETAIL_TYPE:
            raise NotAnEvent(f"detail-type {body['detail-type']!r} is not {EVENTBRIDGE_DETAIL_TYPE}")
        return body["detail"]
    return body


def from_payload(payload: Mapping[str, Any]) -> ProcedureCompleted:
    """A schema-valid payload as a typed event."""
    customer = payload["customer"]
    return ProcedureCompleted(
        event_id=payload["event_id"],
        procedure=payload["procedure"],
        completed_at=datetime.fromisoformat(payload["completed_at"]),
        customer=Customer(
            id=customer["id"],
            phone=customer.get("phone"),
            email=customer.get("email"),
            locale=customer.get("locale"),
            timezone=customer.get("timezone"),
        ),
        context={str(k): str(v) for k, v in (payload.get("context") or {}).items()},
    )


def fingerprint(payload: Mapping[str, Any]) -> str:
    """The same event, however its keys are ordered or spaced, has the same fingerprint."""
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()
