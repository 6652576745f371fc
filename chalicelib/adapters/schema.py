"""Validation of incoming events against the published JSON Schema, reporting every bad field,
and the reading of an intake queue message (bare event or EventBridge envelope) at the edge.

jsonschema is imported on first use: only the intake and dispatch functions pay for it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.events import NotAnEvent, unwrap
from chalicelib.errors import InvalidEvent

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "procedure-completed.schema.json"

DEFAULT_CLOCK_SKEW = timedelta(minutes=5)

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
        return [{"field": "customer", "problem": "needs a phone, an email or a LINE user id"}]
    if kind == "type":
        return [{"field": _field(path), "problem": f"must be of type {error.validator_value}"}]
    if kind == "propertyNames":
        return [{"field": _field(path + [error.instance]), "problem": "is not a valid context key"}]
    problem = _PROBLEMS.get(kind, error.message)
    if kind == "pattern" and "x-expected" in error.schema:
        problem = f"{problem}: expected {error.schema['x-expected']}"
    return [{"field": _field(path), "problem": problem}]


# C0 and C1 controls, DEL, and the Unicode line and paragraph separators: none belongs in an id or
# a context value, and each could forge a line in an alert or a log. (The schema's patterns say the
# same, but a regex `$` also matches before a final newline, so this check is the one that holds.)
_CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029]")


def _strings(value: Any, path: str) -> list[tuple[str, str]]:
    """Every string in the payload with its field, the keys too: a context key's pattern is checked
    with `$`, which lets a final newline through ("branch\n")."""
    if isinstance(value, str):
        return [(path, value)]
    if isinstance(value, dict):
        return [item for key, child in value.items()
                for field in [f"{path}.{key}" if path else str(key)]
                for item in [(field, str(key)), *_strings(child, field)]]
    return []


def _semantic(payload: dict[str, Any], now: datetime | None, skew: timedelta) -> list[dict[str, str]]:
    """What a schema cannot say: no control characters anywhere, the date must exist and not lie
    in the future (beyond the clock skew allowed), the time zone must be known."""
    errors = [{"field": field, "problem": "contains a control character (a line break, NUL, ESC ...)"}
              for field, value in _strings(payload, "") if _CONTROL.search(value)]
    if errors:
        return errors
    try:
        completed_at = datetime.fromisoformat(str(payload["completed_at"]))
    except ValueError:
        errors.append({"field": "completed_at", "problem": "is not a real date and time"})
    else:
        if now is not None and completed_at > now + skew:
            errors.append({"field": "completed_at", "problem": (
                f"is in the future: more than {int(skew.total_seconds())} s ahead of koe's clock")})
    timezone = payload["customer"].get("timezone")
    if timezone:
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.append({"field": "customer.timezone", "problem": "is not a known IANA time zone"})
    return errors


def event_errors(payload: Any, now: datetime | None = None,
                 skew: timedelta = DEFAULT_CLOCK_SKEW) -> list[dict[str, str]]:
    """Every problem with one event as {"field", "problem"}; empty when the event is valid. With
    `now`, a completed_at more than `skew` ahead of it is a problem too."""
    if not isinstance(payload, dict):
        return [{"field": "(event)", "problem": "must be a JSON object"}]
    found = [item for error in _validator().iter_errors(payload) for item in _describe(error)]
    unique = {(e["field"], e["problem"]): e for e in found}     # "required" repeats per missing name
    errors = sorted(unique.values(), key=lambda e: e["field"])
    return errors or _semantic(payload, now, skew)


def read_message(body: str, now: datetime | None = None, skew: timedelta = DEFAULT_CLOCK_SKEW) -> dict[str, Any]:
    """The valid event in an intake message (bare, or an EventBridge envelope), or InvalidEvent."""
    try:
        payload = unwrap(json.loads(body))
    except (ValueError, NotAnEvent) as exc:
        raise InvalidEvent([{"field": "(message)", "problem": str(exc)}]) from exc
    except RecursionError as exc:       # deeper than json can read: an EventBridge detail had no depth check
        raise InvalidEvent([{"field": "(message)", "problem": "the JSON is nested too deeply"}]) from exc
    errors = event_errors(payload, now, skew)
    if errors:
        raise InvalidEvent(errors)
    return dict(payload)      # a JSON object: event_errors said so


def event_id_of(body: str) -> str | None:
    """The event_id in an intake message, read without judging the rest (a dead-lettered record
    names its survey even when the event is no longer valid); None when there is none."""
    try:
        payload = unwrap(json.loads(body))
    except (ValueError, RecursionError, NotAnEvent):
        return None
    event_id = payload.get("event_id") if isinstance(payload, dict) else None
    return event_id if isinstance(event_id, str) else None
