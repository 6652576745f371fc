"""When a survey may reach a customer: inside the send window of their country, in their own time
zone, on a day that is not a public holiday there. Outside it, the send waits for the next opening.

Pure: the caller passes the customer's place (country and zone, stored on the survey: domain/
customer_place.py) or their zone, and a holiday predicate for their country (the `holidays`
package, behind an adapter); the current time is an argument.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.domain.model import Place

MAX_DAYS_AHEAD = 31       # a month of holidays in a row does not exist anywhere koe sends

_WINDOW = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")


class InvalidWindow(ValueError):
    """A send window that is not "HH:MM-HH:MM" with the start before the end."""


@dataclass(frozen=True)
class Window:
    start: time = time(9, 0)
    end: time = time(20, 0)

    @classmethod
    def parse(cls, text: str) -> Window:
        match = _WINDOW.match(text.strip())
        if not match:
            raise InvalidWindow(f"a send window is HH:MM-HH:MM, e.g. 09:00-20:00, got {text!r}")
        try:
            start, end = time(int(match[1]), int(match[2])), time(int(match[3]), int(match[4]))
        except ValueError as exc:
            raise InvalidWindow(f"not a time of day in {text!r}") from exc
        if start >= end:
            raise InvalidWindow(f"the window must start before it ends, got {text!r}")
        return cls(start, end)


@dataclass(frozen=True)
class SendWindows:
    default: Window = field(default_factory=Window)
    by_country: Mapping[str, Window] = field(default_factory=dict)

    def for_country(self, country: str | None) -> Window:
        return self.by_country.get(country or "", self.default)


def _no_holidays(country: str | None) -> Callable[[date], bool]:
    return lambda day: False


@dataclass(frozen=True)
class SendHours:
    """When koe may message a customer: the send window of their country, in their zone, on a day
    that is not a public holiday there. One for every send: the survey, a deferred release, the
    reminder, the closing message."""

    windows: SendWindows = field(default_factory=SendWindows)
    holidays: Callable[[str | None], Callable[[date], bool]] = _no_holidays     # by country

    def next_opening(self, now: datetime, place: Place) -> datetime:
        """`now` inside the place's send window, else when it next opens."""
        return next_opening(now, ZoneInfo(place.timezone), self.windows.for_country(place.country),
                            self.holidays(place.country))


def next_opening(now: datetime, tz: ZoneInfo, window: Window,
                 is_holiday: Callable[[date], bool]) -> datetime:
    """`now` when it is inside the window on a working day; otherwise the start of the next window
    on a day that is not a holiday (in UTC, like every time koe stores)."""
    local = now.astimezone(tz)
    for ahead in range(MAX_DAYS_AHEAD + 1):
        day = local.date() + timedelta(days=ahead)
        if is_holiday(day):
            continue
        opens = datetime.combine(day, window.start, tz)
        closes = datetime.combine(day, window.end, tz)
        if ahead == 0 and opens <= local < closes:
            return now
        if local < opens:
            return opens.astimezone(now.tzinfo)
    # Unreachable with any real calendar; sending at once beats holding a survey forever.
    return now
