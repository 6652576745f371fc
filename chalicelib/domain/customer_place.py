"""Where the customer is: their country and time zone, decided once when a survey is dispatched.

`customer_place` is the one rule. Dispatch applies it to the event and stores the result on the
survey (`Survey.place`); the survey's answers and its case copy it. Every later step that depends on
where the customer is (the reminder, a deferred release, the case's business hours and holidays,
the closing message, the case views, the local `devstack scheduled`) reads the stored place and
never works it out again from the language: an email-only en-GB customer is in Britain for all of
them, not in the US because they write English.

A survey, answer or case stored before places were has none: `PlaceRules.of` applies the same rule
to what it holds (its phone number and language, a case's stored zone). That is the one fallback.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from chalicelib.domain.model import Place, Survey

# The usual zone of each country, where neither the event nor the phone number says which one (a
# country with several zones should send customer.timezone). KOE_BUSINESS_CALENDARS may set others.
COUNTRY_ZONES: Mapping[str, str] = MappingProxyType({
    "JP": "Asia/Tokyo", "CN": "Asia/Shanghai", "HK": "Asia/Hong_Kong", "TW": "Asia/Taipei",
    "SG": "Asia/Singapore", "KR": "Asia/Seoul", "GB": "Europe/London", "IE": "Europe/Dublin",
    "US": "America/New_York", "CA": "America/Toronto", "AU": "Australia/Sydney", "NZ": "Pacific/Auckland",
})
# Languages spoken at home in one country koe sends to: a "ja" customer with no region and no phone
# is in Japan. English has no such country: an "en" customer without one is placed by the fallback.
LANGUAGE_COUNTRY: Mapping[str, str] = MappingProxyType({"ja": "JP", "zh": "CN"})


@dataclass(frozen=True)
class Facts:
    """What is known about a customer's whereabouts."""

    phone_country: str | None = None      # the phone number's country (adapters/phone_numbers.py)
    phone_timezone: str | None = None     # the number's zone, when the number pins one down
    timezone: str | None = None           # the event's customer.timezone (validated at intake)
    locale: str | None = None             # BCP 47: en-GB, ja, zh-Hant-TW


def locale_country(locale: str | None) -> str | None:
    """The region of a BCP 47 locale (en-GB -> GB, zh-Hant-TW -> TW), else the country of a language
    spoken in one (ja -> JP); None otherwise."""
    parts = (locale or "").replace("_", "-").split("-")
    region = next((p for p in parts[1:] if len(p) == 2 and p.isalpha()), None)
    if region:
        return region.upper()
    return LANGUAGE_COUNTRY.get(parts[0].lower())


def customer_place(facts: Facts, zones: Mapping[str, str] = COUNTRY_ZONES, fallback_timezone: str = "UTC") -> Place:
    """The country: the phone number's, else the locale's. The zone: the event's, else the phone
    number's, else the country's usual one (`zones`), else `fallback_timezone`."""
    country = facts.phone_country or locale_country(facts.locale)
    zone = facts.timezone or facts.phone_timezone or zones.get(country or "") or fallback_timezone
    return Place(country, zone)


def _unknown(phone: str) -> str | None:
    return None


@dataclass(frozen=True)
class PlaceRules:
    """The rule with what it needs from configuration: the phone number lookups, the usual zone of
    each country, and the zone of a customer nothing places (KOE_REPORTING_TIMEZONE)."""

    region_of: Callable[[str], str | None] = _unknown
    timezone_of: Callable[[str], str | None] = _unknown
    zones: Mapping[str, str] = field(default_factory=lambda: COUNTRY_ZONES)
    fallback_timezone: str = "UTC"

    def decide(self, phone: str | None, locale: str | None, timezone: str | None = None) -> Place:
        facts = Facts(phone_country=self.region_of(phone) if phone else None,
                      phone_timezone=self.timezone_of(phone) if phone else None, timezone=timezone, locale=locale)
        return customer_place(facts, self.zones, self.fallback_timezone)

    def of(self, stored: Place | None, *, phone: str | None = None, locale: str | None = None,
           timezone: str | None = None) -> Place:
        """The stored place; for a record stored before places were, the same rule on what it holds."""
        return stored if stored is not None else self.decide(phone, locale, timezone)

    def of_survey(self, survey: Survey) -> Place:
        return self.of(survey.place, phone=survey.phone, locale=survey.locale)
