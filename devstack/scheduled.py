"""The surveys waiting for their customer's send window, read from DynamoDB Local (local only).

Both `python -m devstack scheduled` and the carrier's `GET /scheduled` (the phone page's list) use
this. It queries the surveys table's sparse `send-at` index, the one `tick` releases from, earliest
first, and keeps the items still `scheduled`. No phone number or address in clear: the recipient is
masked as in CX alerts.

The customer's zone is not stored on the survey (dispatch used the event's `customer.timezone`, else
the phone number's, else the country's): the local time shown is in the phone number's zone, else
the usual zone of its country, and says so (`timezone_from`); a survey by email shows UTC only.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib import resources
from chalicelib.domain.phone import mask
from chalicelib.domain.send_window import DEFAULT_TIMEZONES
from chalicelib.domain.web_survey import masked_address
from devstack.time_machine import iso

SEND_AT_INDEX = "send-at"
SEND_SHARD = "due"          # the one partition of the index (chalicelib/adapters/dynamo/models.py)
SCHEDULED = "scheduled"


def scheduled_surveys(dynamodb: Any, prefix: str) -> list[dict[str, Any]]:
    """Every scheduled survey of the stack whose tables carry `prefix`, earliest send time first."""
    table = resources.physical(prefix, "surveys")
    return [describe(item) for item in _query(dynamodb, table) if _text(item, "status") == SCHEDULED]


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


def describe(item: dict[str, Any]) -> dict[str, Any]:
    """One line for people and scripts: ids, channel, when (UTC and the customer's likely zone)."""
    send_at = _time(_text(item, "send_at"))
    phone, email = _text(item, "phone"), _text(item, "email")
    zone, source = customer_zone(phone)
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
        "send_at_local": send_at.astimezone(ZoneInfo(zone)).isoformat() if send_at and zone else None,
        "timezone": zone,
        "timezone_from": source,
    }


def customer_zone(phone: str | None) -> tuple[str | None, str | None]:
    """(IANA zone, where it comes from) for a phone number; (None, None) without one."""
    if not phone:
        return None, None
    from chalicelib.adapters.phone_numbers import region_of, timezone_of

    zone = timezone_of(phone)
    if zone:
        return zone, "phone number"
    country = region_of(phone)
    if country and country in DEFAULT_TIMEZONES:
        return DEFAULT_TIMEZONES[country], f"country ({country})"
    return None, None


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
