"""The query parameters the read APIs share: only the names a route knows (a misspelt one must not
silently change the answer), and a period of days `from`..`to` (default: the last 30 days)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from chalicelib.errors import InvalidRequest

MAX_DAYS = 366
DEFAULT_DAYS = 30


def refuse_unknown(params: Mapping[str, str], known: frozenset[str], error: type[InvalidRequest]) -> None:
    unknown = sorted(set(params) - known)
    if unknown:
        raise error(f"unknown query parameter {', '.join(unknown)}: use {', '.join(sorted(known))}")


def period(params: Mapping[str, str], today: date, error: type[InvalidRequest]) -> tuple[str, str]:
    """`from` and `to` as ISO days; `error` names what is wrong with them."""
    try:
        to_day = date.fromisoformat(params["to"]) if params.get("to") else today
        from_day = (date.fromisoformat(params["from"]) if params.get("from")
                    else to_day - timedelta(days=DEFAULT_DAYS - 1))
    except ValueError as exc:
        raise error("from and to must be dates, YYYY-MM-DD") from exc
    if from_day > to_day:
        raise error("from must not be after to")
    if (to_day - from_day).days >= MAX_DAYS:
        raise error(f"at most {MAX_DAYS} days per query")
    return from_day.isoformat(), to_day.isoformat()


def one_of(params: Mapping[str, str], name: str, allowed: list[str]) -> str | None:
    """The parameter's value when it is one of `allowed`; None when absent; InvalidRequest otherwise."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise InvalidRequest(f"{name} is one of {', '.join(allowed)}")
    return value


def day_bounds(from_day: str, to_day: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """From the first day's midnight to the midnight after the last day, in `tz` (end excluded)."""
    start = datetime.combine(date.fromisoformat(from_day), time(), tz)
    end = datetime.combine(date.fromisoformat(to_day) + timedelta(days=1), time(), tz)
    return start, end
