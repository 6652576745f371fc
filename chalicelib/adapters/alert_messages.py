"""Reading a message of the alert deliveries queue: the case alert inside SNS's JSON envelope (the
queue is subscribed to the cx-alerts topic without raw delivery), or a bare alert (a message sent to
the queue directly, or redriven by hand), validated against its published JSON Schema
(chalicelib/schemas/case-alert.schema.json).

A message that is not a readable alert is `InvalidAlert`, whose reason names fields and never shows
values (a comment is personal data): services/batch.py dead-letters it with that reason.
jsonschema is imported on first use: only the delivering function pays for it.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.errors import InvalidAlert

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "case-alert.schema.json"
INSTANTS = ("at", "first_contact_due", "resolution_due")


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def unwrap(payload: Any) -> Any:
    """The alert inside an SNS notification envelope (Type Notification, Message a JSON string), or
    the payload itself when it is not one."""
    if isinstance(payload, dict) and payload.get("Type") == "Notification" and isinstance(payload.get("Message"), str):
        try:
            return json.loads(payload["Message"])
        except ValueError as exc:
            raise InvalidAlert("(message): the SNS Message is not JSON") from exc
    return payload


def problems(payload: Any) -> list[str]:
    """What is wrong with an alert, as `field: problem` (no values); empty when it is valid."""
    if not isinstance(payload, dict):
        return ["(alert): must be a JSON object"]
    found = sorted({problem for error in _validator().iter_errors(payload) for problem in _describe(error)})
    if found:
        return found
    bad_times = []
    for name in INSTANTS:
        try:
            datetime.fromisoformat(payload[name])
        except ValueError:
            bad_times.append(f"{name}: not an ISO 8601 date-time")
    return bad_times


def _describe(error: Any) -> list[str]:
    """`field: problem` for one schema error: missing and unexpected fields by name."""
    where = ".".join(str(p) for p in error.absolute_path) or "(alert)"
    if error.validator == "required" and isinstance(error.instance, dict):
        return [f"{name}: required" for name in error.validator_value if name not in error.instance]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        known = set(error.schema.get("properties", {}))
        return [f"{str(name)[:40]}: not a field of the alert" for name in error.instance if name not in known]
    return [f"{where}: {error.validator}"]


def read_alert(body: str) -> dict[str, Any]:
    """The valid case alert in a queue message, or InvalidAlert naming what is wrong."""
    try:
        payload = unwrap(json.loads(body))
    except ValueError as exc:
        raise InvalidAlert("(message): not JSON") from exc
    found = problems(payload)
    if found:
        raise InvalidAlert("; ".join(found)[:900])
    return dict(payload)
