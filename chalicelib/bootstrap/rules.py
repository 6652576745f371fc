"""The domain rules a function decides with, built from settings: pure construction, no client, no
secret. Each wiring (`bootstrap/functions.py`) builds the ones its use cases read, once per process.

Where a rule needs a library to look something up (phone numbers, public holidays), the lookup is
the adapter's (`adapters/phone_numbers.py`, `adapters/holiday_calendar.py`), handed in here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.settings import Settings

if TYPE_CHECKING:      # for the annotations only: each rule imports what it builds
    from chalicelib.domain.case_policy import CasePolicy
    from chalicelib.domain.channel_policy import ChannelPolicy
    from chalicelib.domain.customer_place import PlaceRules
    from chalicelib.domain.eligibility import Policy
    from chalicelib.domain.send_window import SendHours


def places(s: Settings) -> PlaceRules:
    """The one rule for a customer's country and zone (dispatch decides; later steps read the
    survey's): the phone number lookups, each country's usual zone (KOE_BUSINESS_CALENDARS may
    name others), and KOE_REPORTING_TIMEZONE for a customer nothing places."""
    from chalicelib.adapters.phone_numbers import region_of, timezone_of
    from chalicelib.domain.customer_place import COUNTRY_ZONES, PlaceRules

    return PlaceRules(region_of=region_of, timezone_of=timezone_of,
                      zones={**COUNTRY_ZONES, **s.cases.country_zones}, fallback_timezone=s.reporting_timezone)


def send_hours(s: Settings) -> SendHours:
    """KOE_SEND_WINDOW (and per country), public holidays unless KOE_SKIP_HOLIDAYS=false."""
    from chalicelib.adapters import holiday_calendar
    from chalicelib.domain.send_window import SendHours, SendWindows, Window

    windows = SendWindows(Window.parse(s.send_window),
                          {country: Window.parse(w) for country, w in s.send_window_by_country.items()})
    return SendHours(windows, holiday_calendar.for_country if s.skip_holidays else holiday_calendar.none)


def case_policy(s: Settings, where: PlaceRules) -> CasePolicy:
    """The case settings with the business calendar of each customer place: the working week of
    the country (KOE_BUSINESS_CALENDARS), its public holidays (`holidays`), in the customer's zone."""
    from chalicelib.adapters import holiday_calendar
    from chalicelib.domain.business_calendar import BusinessCalendar, parse_hours, parse_weekend
    from chalicelib.domain.case_policy import CasePolicy
    from chalicelib.domain.model import Place

    c = s.cases

    @functools.lru_cache(maxsize=64)
    def calendar_for(place: Place) -> BusinessCalendar:
        spec = c.calendar(place.country)
        opens, closes = parse_hours(spec.hours)
        return BusinessCalendar(place.timezone, opens, closes, parse_weekend(list(spec.weekend)),
                                holiday_calendar.for_country(place.country))

    return CasePolicy(rules=c.rules, routing=c.routing, calendar_for=calendar_for, places=where, sla=c.sla,
                      sla_by_procedure=c.sla_by_procedure, codes=c.codes, closing_message=c.closing_message,
                      closing_by_procedure=c.closing_by_procedure, resurvey_days=c.resurvey_days,
                      resurvey_days_by_procedure=c.resurvey_by_procedure,
                      retention=timedelta(days=c.retention_days))


def eligibility(s: Settings) -> Policy:
    """Whom to survey: cooldown, the event's age, fatigue caps and sampling (domain/eligibility.py)."""
    from chalicelib.domain.eligibility import Policy
    from chalicelib.domain.fatigue import FatigueRules

    return Policy(s.cooldown_days, s.max_event_age_hours, s.default_locale,
                  FatigueRules(s.fatigue_cap, s.fatigue_cap_days, s.sampling_by_procedure))


def channels(s: Settings) -> ChannelPolicy:
    """Which channel for which customer (KOE_CHANNEL_POLICY over the defaults)."""
    from chalicelib.domain.channel_policy import ChannelPolicy

    return ChannelPolicy.with_overrides(s.channel_preferences)


def event_check(s: Settings, clock: Callable[[], datetime]) -> Callable[[Any], list[dict[str, str]]]:
    """Every problem with one event (JSON Schema, control characters, a completed_at in the future
    beyond KOE_CLOCK_SKEW_SECONDS against this process's clock); empty when valid."""
    skew = timedelta(seconds=s.clock_skew_seconds)

    def errors(payload: Any) -> list[dict[str, str]]:
        from chalicelib.adapters.schema import event_errors

        return event_errors(payload, clock(), skew)

    return errors


def event_reader(s: Settings, clock: Callable[[], datetime]) -> Callable[[str], dict[str, Any]]:
    """The valid event in an intake queue message, or InvalidEvent (dead-lettered with it)."""
    skew = timedelta(seconds=s.clock_skew_seconds)

    def read(body: str) -> dict[str, Any]:
        from chalicelib.adapters.schema import read_message

        return read_message(body, clock(), skew)

    return read
