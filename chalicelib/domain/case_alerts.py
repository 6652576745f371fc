"""What the CX alert topic carries: one JSON message per thing people must hear about a case.

The message is for machines (the alert subscriber renders it for people, in each recipient's
language, from templates/alerts/); its `alert_id` is the same however often it is published, so a
replayed stream batch or two overlapping ticks are delivered once (the subscriber keeps the ids it
delivered). SNS message attributes (procedure, branch, severity, event, ...) let any subscriber
filter. Personal data: the customer's id in the source system, a masked phone and the comment.

Published contract: chalicelib/schemas/case-alert.schema.json, versioned by ALERT_SCHEMA_VERSION.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.cases import Case

ALERT_SCHEMA_VERSION = 1

# opened: a new case; comment: the customer's "why" arrived after the case opened; the ladder's
# rungs (domain/case_ladder.py); resolved / reopened: people working the case.
EVENTS = ("opened", "comment", "first_contact_overdue", "reminder", "breach", "lead", "resolved", "reopened")


def alert_id(case: Case, event: str, occurrence: str = "") -> str:
    """Stable per logical alert: `occurrence` tells apart the same event happening again (a ladder
    rung planned anew after a reopen carries its own due time)."""
    return f"{case.case_id}:{event}" + (f":{occurrence}" if occurrence else "")


def alert(case: Case, event: str, recipients: tuple[str, ...], at: datetime, occurrence: str = "") -> dict[str, Any]:
    if event not in EVENTS:
        raise ValueError(f"not a case alert event: {event!r}")
    return {
        "type": "CaseAlert",
        "schema_version": ALERT_SCHEMA_VERSION,
        "alert_id": alert_id(case, event, occurrence),
        "event": event,
        "at": at.isoformat(),
        "to": list(recipients),
        "case_id": case.case_id,
        "procedure": case.procedure,
        "branch": case.branch,
        "agent_id": case.agent_id,
        "severity": case.severity.value,
        "reasons": list(case.reasons),
        "score": case.score,
        "comment": case.comment,
        "callback_consent": case.callback_consent,
        "customer_id": case.customer_id,
        "phone": case.phone_masked,
        "locale": case.locale,
        "owner": str(case.owner),
        "status": case.status.value,
        "first_contact_due": case.first_contact_due.isoformat(),
        "resolution_due": case.resolution_due.isoformat(),
        "customer_timezone": case.customer_timezone,
        "owner_timezone": case.owner_timezone,
    }


def attributes(message: dict[str, Any]) -> dict[str, str]:
    """What subscribers of the CX alert topic can filter on (SNS message attributes)."""
    return {"procedure": message["procedure"], "branch": message["branch"] or "",
            "severity": message["severity"], "event": message["event"],
            "agent_id": message["agent_id"] or "", "score": str(message["score"])}
