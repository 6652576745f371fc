"""Small conversions every store shares between PynamoDB values and domain values.

Storage items are not domain objects: every read and write goes through an explicit conversion,
written next to its store; only these tiny pieces are common to several.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import Attribute, MapAttribute, UnicodeAttribute
from pynamodb.expressions.update import Action

from chalicelib.domain.model import Place


def strings(value: Any) -> dict[str, str]:
    """A raw MapAttribute reads back as a dict (or MapAttribute); the domain wants dict[str, str]."""
    raw = value.as_dict() if isinstance(value, MapAttribute) else (value or {})
    return {str(k): str(v) for k, v in raw.items()}


def int_or_none(value: float | None) -> int | None:
    return None if value is None else int(value)


def set_or_remove(attribute: Attribute[Any], value: Any) -> Action:
    # PynamoDB's set(None) writes a NULL value, which an index key (open_until) refuses and a
    # reader would see as present: absent means REMOVE.
    return attribute.remove() if value is None else attribute.set(value)


class PlaceItem(MapAttribute[str, Any]):
    """The customer's place, stored alike on a survey, its answers and its case (`customer_place`);
    absent on items stored before places were."""

    country = UnicodeAttribute(null=True)
    timezone = UnicodeAttribute()


def place_to_item(place: Place | None) -> PlaceItem | None:
    return None if place is None else PlaceItem(country=place.country, timezone=place.timezone)


def place_from_item(item: PlaceItem | None) -> Place | None:
    return None if item is None else Place(item.country, item.timezone)
