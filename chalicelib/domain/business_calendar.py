"""Business time: working hours, weekends and public holidays of one locale, and deadlines counted
in them ("first contact within 1 business day" opened on Friday evening in Tokyo is due on Monday
evening, or Tuesday when Monday is a holiday).

A business day is `hours` long (09:00-18:00 by default: 9 hours); N business days is N times that
many working hours, counted from the moment the case opens (or from the next opening when it opens
outside working hours). Public holidays come in as a predicate (adapters/holiday_calendar.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_DAYS = 3660             # a deadline ten years away is a configuration bug; stop counting there
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class InvalidCalendar(ValueError):
    """A calendar setting cannot be read; says which part."""


def _no_holidays(day: date) -> bool:
    return False


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: str = "UTC"
    opens: time = time(9, 0)
    closes: time = time(18, 0)
    weekend: frozenset[int] = frozenset({5, 6})          # Monday is 0
    is_holiday: Callable[[date], bool] = field(default=_no_holidays, compare=False)

    def __post_init__(self) -> None:
        if self.opens >= self.closes:
            raise InvalidCalendar("working hours must open before they close, e.g. 09:00-18:00")
        if len(self.weekend) >= 7:
            raise InvalidCalendar("at least one day of the week must be a working day")
        ZoneInfo(self.timezone)           # an unknown zone fails here, not at the first deadline

    @property
    def day_length(self) -> timedelta:
        return datetime.combine(date.min, self.closes) - datetime.combine(date.min, self.opens)

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and not self.is_holiday(day)

    def add(self, start: datetime, span: timedelta) -> datetime:
        """The moment `span` of working time after `start` (aware; returned in start's zone)."""
        tz = ZoneInfo(self.timezone)
        local = start.astimezone(tz)
        remaining = span
        day = local.date()
        for _ in range(MAX_DAYS):
            if self.is_business_day(day):
                opens = datetime.combine(day, self.opens, tz)
                closes = datetime.combine(day, self.closes, tz)
                begin = max(local, opens)
                if begin < closes:
                    if remaining <= closes - begin:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= closes - begin
            day += timedelta(days=1)
            local = datetime.combine(day, time.min, tz)
        raise InvalidCalendar(f"no deadline within {MAX_DAYS} days: check the working days and holidays")

    def add_days(self, start: datetime, days: float) -> datetime:
        """`days` business days after `start` (fractions allowed: 0.5 is half a working day)."""
        return self.add(start, self.day_length * days)


def parse_hours(text: str) -> tuple[time, time]:
    """'09:00-18:00' -> (09:00, 18:00); InvalidCalendar otherwise."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as exc:
        raise InvalidCalendar(f"working hours are HH:MM-HH:MM, e.g. 09:00-18:00, got {text!r}") from exc
    if start >= end:
        raise InvalidCalendar(f"working hours must open before they close, got {text!r}")
    return start, end


def parse_weekend(days: list[str]) -> frozenset[int]:
    try:
        return frozenset(WEEKDAYS.index(str(d).lower()[:3]) for d in days)
    except ValueError as exc:
        raise InvalidCalendar(f"weekend days are {', '.join(WEEKDAYS)}, got {days!r}") from exc
