"""Validation of incoming events against the published JSON Schema, reporting every bad field,
and the reading of an intake queue message (bare event or EventBridge envelope) at the edge.

jsonschema is imported on first use: only the intake and dispatch functions pay for it.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.events import NotAnEvent, unwrap
from chalicelib.errors import InvalidEvent

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "procedure-completed.schema.json"

_PROBLEMS = {
    "pattern": "has the wrong format",
    "minLength": "is empty or too short",
    "maxLength": "is too long",
    "maxProperties": "has too many entries",
}


@lru_cache(maxsize=1)
def _validator() -> Any:
    from jsonschema import Draft202012Validator

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _field(path: list[Any]) -> str:
    return ".".join(str(p) for p in path) or "(event)"


def _describe(error: Any) -> list[dict[str, str]]:
    path = list(error.absolute_path)
    kind = error.validator
    if kind == "required":
        return [{"field": _field(path + [name]), "problem": "is required"}
                for name in error.validator_value if name not in (error.instance or {})]
    if kind == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return [{"field": _field(path + [name]), "problem": "is not a field of the event"} for name in extra]
    if kind == "anyOf" and path == ["customer"]:
        return [{"field": "customer", "problem": "needs a phone or an email"}]
    if kind == "type":
        return [{"field": _field(path), "problem": f"must be of type {error.validator_value}"}]
    if kind == "propertyNames":
        return [{"field": _field(path + [error.instance]), "problem": "is not a valid context key"}]
    problem = _PROBLEMS.get(kind, error.message)
    if kind == "pattern" and "x-expected" in error.schema:
        problem = f"{problem}: expected {error.schema['x-expected']}"
    return [{"field": _field(path), "problem": problem}]


def _semantic(payload: dict[str, Any]) -> list[dict[str, str]]:
    """What a schema cannot say: the date must exist, the time zone must be known."""
    errors = []
    try:
        datetime.fromisoformat(str(payload["completed_at"]))
    except ValueError:
        errors.append({"field": "completed_at", "problem": "is not a real date and time"})
    timezone = payload["customer"].get("timezone")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append({"field": "customer.timezone", "problem": "is not a known IANA time zone"})
    return errors


def event_errors(payload: Any) -> list[dict[str, str]]:
    """Every problem with one event as {"field", "problem"}; empty when the event is valid."""
    if not isinstance(payload, dict):
        return [{"field": "(event)", "problem": "must be a JSON object"}]
    found = [item for error in _validator().iter_errors(payload) for item in _describe(error)]
    unique = {(e["field"], e["problem"]): e for e in found}     # "required" repeats per missing name
    errors = sorted(unique.values(), key=lambda e: e["field"])
    return errors or _semantic(payload)


def read_message(body: str) -> dict[str, Any]:
    """The valid event in an intake message (bare, or an EventBridge envelope), or InvalidEvent."""
    try:
        payload = unwrap(json.loads(body))
    except (ValueError, NotAnEvent) as exc:
        raise InvalidEvent([{"field": "(message)", "problem": str(exc)}]) from exc
    errors = event_errors(payload)
    if errors:
        raise InvalidEvent(errors)
    return dict(payload)      # a JSON object: event_errors said so
