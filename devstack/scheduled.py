"""The surveys waiting for their customer's send window, read from DynamoDB Local (local only).

Both `python -m devstack scheduled` and the carrier's `GET /scheduled` (the phone page's list) use
this. It queries the surveys table's sparse `send-at` index, the one `tick` releases from, earliest
first, and keeps the items still `scheduled`. No phone number or address in clear: the recipient is
masked as in CX alerts.

The local time shown is in the customer's zone as dispatch decided and stored it on the survey
(`customer_place`: the event's `customer.timezone`, else the phone number's, else the country's),
the zone the schedule releases it in. A survey stored before places were is placed by the same rule
on what it holds (domain/customer_place.py); `timezone_from` says which.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib import resources
from chalicelib.domain.customer_place import PlaceRules
from chalicelib.domain.model import Place
from chalicelib.domain.phone import mask
from chalicelib.domain.web_survey import masked_address
from devstack.time_machine import iso

SEND_AT_INDEX = "send-at"
SEND_SHARD = "due"          # the one partition of the index (chalicelib/adapters/dynamo/models.py)
SCHEDULED = "scheduled"
STORED = "survey"                                   # timezone_from: the place stored at dispatch
WORKED_OUT = "worked out (stored before places)"    # ... the same rule on the survey's phone and language


def scheduled_surveys(dynamodb: Any, prefix: str, places: PlaceRules | None = None) -> list[dict[str, Any]]:
    """Every scheduled survey of the stack whose tables carry `prefix`, earliest send time first.
    `places` places a survey stored before places were (default: the phone number lookups)."""
    table = resources.physical(prefix, "surveys")
    rules = places or _phone_rules()
    return [describe(item, rules) for item in _query(dynamodb, table) if _text(item, "status") == SCHEDULED]


def _phone_rules() -> PlaceRules:
    from chalicelib.adapters.phone_numbers import region_of, timezone_of

    return PlaceRules(region_of=region_of, timezone_of=timezone_of)


def _query(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    kwargs: dict[str, Any] = {
        "TableName": table, "IndexName": SEND_AT_INDEX, "ScanIndexForward": True,
        "KeyConditionExpression": "send_shard = :due", "ExpressionAttributeValues": {":due": {"S": SEND_SHARD}}}
    while True:
        page = dynamodb.query(**kwargs)
        yield from page.get("Items", [])
        if "LastEvaluatedKey" not in page:
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def describe(item: dict[str, Any], places: PlaceRules) -> dict[str, Any]:
    """One line for people and scripts: ids, channel, when (UTC and in the customer's zone)."""
    send_at = _time(_text(item, "send_at"))
    phone, email = _text(item, "phone"), _text(item, "email")
    stored = stored_place(item)
    place = places.of(stored, phone=phone, locale=_text(item, "locale"))
    return {
        "survey_id": _text(item, "survey_id"),
        "procedure": _text(item, "procedure"),
        "channel": _text(item, "channel"),
        "channel_reason": _text(item, "channel_reason"),
        "status": _text(item, "status"),
        "reason": _text(item, "reason"),
        "customer_id": _text(item, "customer_id"),
        "to": (masked_address(email) or None) if _text(item, "channel") == "email" else mask(phone),
        "send_at": iso(send_at) if send_at else None,
        "send_at_local": send_at.astimezone(ZoneInfo(place.timezone)).isoformat() if send_at else None,
        "country": place.country,
        "timezone": place.timezone,
        "timezone_from": STORED if stored else WORKED_OUT,
    }


def stored_place(item: dict[str, Any]) -> Place | None:
    """The survey's `customer_place` (chalicelib/adapters/dynamo/convert.PlaceItem), None when absent."""
    raw = item.get("customer_place", {}).get("M")
    zone = _text(raw, "timezone") if isinstance(raw, dict) else None
    return Place(_text(raw, "country"), zone) if isinstance(raw, dict) and zone else None


def _text(item: dict[str, Any], name: str) -> str | None:
    value = item.get(name, {})
    return str(value["S"]) if isinstance(value, dict) and "S" in value else None


def _time(text: str | None) -> datetime | None:
    """PynamoDB's UTCDateTimeAttribute: 2026-11-24T00:00:00.000000+0000."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError:
        return None
