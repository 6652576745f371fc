"""What a phone number says about where its owner lives: its country and time zone (Google's
libphonenumber data, the `phonenumbers` package). Fictional and not-yet-assigned numbers still
belong to their calling code's main country (+1 555 01xx is "US")."""

from __future__ import annotations

from typing import Any


def _parse(e164: str) -> Any | None:
    import phonenumbers

    try:
        return phonenumbers.parse(e164, None)
    except phonenumbers.NumberParseException:
        return None


def region_of(e164: str) -> str | None:
    """ISO 3166 country of the number, e.g. "JP"; None when it cannot be read."""
    import phonenumbers

    number = _parse(e164)
    if number is None:
        return None
    region = phonenumbers.region_code_for_number(number) or phonenumbers.region_code_for_country_code(
        number.country_code)
    return None if region in (None, "ZZ", "001") else str(region)


def timezone_of(e164: str) -> str | None:
    """The number's IANA time zone when the number pins one down (a country with one zone, or a
    geographic number); None otherwise."""
    from phonenumbers import timezone

    number = _parse(e164)
    if number is None:
        return None
    zones = [z for z in timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
    return str(zones[0]) if len(zones) == 1 else None
