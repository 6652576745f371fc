"""Public holidays per country, from the `holidays` package (JP, CN, US and 150 more), read once
per country and year for the life of the process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=64)
def _calendar(country: str, year: int) -> Any:
    import holidays

    try:
        return holidays.country_holidays(country, years=year)
    except NotImplementedError:          # a country the package does not cover: no holidays known
        return {}


def is_holiday(country: str | None, day: date) -> bool:
    return bool(country) and day in _calendar(str(country), day.year)


def none(country: str | None) -> Callable[[date], bool]:
    """No holidays anywhere (KOE_SKIP_HOLIDAYS=false)."""
    return lambda day: False


def for_country(country: str | None) -> Callable[[date], bool]:
    """The holiday predicate of one country (no country: no holidays)."""
    return lambda day: is_holiday(country, day)
