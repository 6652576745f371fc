"""Which channel reaches a customer, and the rule that chose it.

Per country (the phone number's region), channels in order of preference: two-way SMS where
carriers take replies, one-way SMS with a link to the web survey where links are allowed, email
otherwise. The first channel the customer can be reached on wins: an SMS channel needs a phone, email
needs an address that has not unsubscribed or bounced, and every channel needs a sender deployed.
The rule is stored on the survey (`channel_reason`), e.g. `JP:sms_link`, `CN:sms_link (email: none)`,
`no_phone:email`.

Pure: the caller passes what it knows of the customer's addresses and which channels it can send on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

SMS_TWO_WAY = "sms_two_way"
SMS_LINK = "sms_link"
EMAIL = "email"
NONE = "none"
CHANNELS = (SMS_TWO_WAY, SMS_LINK, EMAIL)

ANY_COUNTRY = "*"
DEFAULT_PREFERENCES: Mapping[str, tuple[str, ...]] = {
    # Carriers take SMS replies here: the conversation runs by SMS.
    "US": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    "CA": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    "GB": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    "AU": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    "NZ": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    "IE": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    "SG": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    "HK": (SMS_TWO_WAY, EMAIL, SMS_LINK),
    # No two-way SMS in Japan; links in SMS are allowed (carriers filter some: keep them short).
    "JP": (SMS_LINK, EMAIL),
    # No two-way SMS, and links in SMS are blocked unless templates are registered: email first.
    "CN": (EMAIL, SMS_LINK),
    ANY_COUNTRY: (EMAIL, SMS_LINK),
}


class UnknownChannel(ValueError):
    """A configured channel koe does not know."""


@dataclass(frozen=True)
class Channel:
    name: str        # sms_two_way, sms_link, email, or none
    reason: str      # the rule that chose it


@dataclass(frozen=True)
class Reach:
    """What koe knows of how to reach one customer."""

    phone_region: str | None = None   # ISO 3166 country of the phone number; None: no phone
    has_phone: bool = False
    has_email: bool = False
    email_blocked: bool = False       # unsubscribed from email, or the address hard-bounced


@dataclass(frozen=True)
class ChannelPolicy:
    preferences: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PREFERENCES))

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Iterable[str]]) -> ChannelPolicy:
        """The defaults, with some countries (or "*") given their own order."""
        merged = dict(DEFAULT_PREFERENCES)
        for country, channels in overrides.items():
            order = tuple(channels)
            unknown = [c for c in order if c not in CHANNELS]
            if unknown or not order:
                raise UnknownChannel(f"{country}: channels must be some of {', '.join(CHANNELS)}, got {order}")
            merged[country.upper() if country != ANY_COUNTRY else country] = order
        return cls(merged)

    def for_country(self, country: str) -> tuple[str, ...]:
        return self.preferences.get(country) or self.preferences[ANY_COUNTRY]


def choose(policy: ChannelPolicy, reach: Reach, available: Iterable[str]) -> Channel:
    """The first channel of the country's order that can reach the customer and has a sender."""
    senders = frozenset(available)
    if not reach.has_phone:
        if EMAIL not in senders:
            return Channel(NONE, "no_phone:email_not_available")
        if not reach.has_email:
            return Channel(NONE, "no_phone:no_email")
        if reach.email_blocked:
            return Channel(NONE, "no_phone:email_blocked")
        return Channel(EMAIL, "no_phone:email")
    country = reach.phone_region or "unknown"
    skipped: list[str] = []
    for name in policy.for_country(country):
        why_not = _why_not(name, reach, senders)
        if why_not is None:
            return Channel(name, f"{country}:{name}" + (f" ({'; '.join(skipped)})" if skipped else ""))
        skipped.append(f"{name}: {why_not}")
    return Channel(NONE, f"{country}:none ({'; '.join(skipped)})")


def _why_not(channel: str, reach: Reach, senders: frozenset[str]) -> str | None:
    if channel == EMAIL and not reach.has_email:
        return "none"
    if channel == EMAIL and reach.email_blocked:
        return "blocked"
    if channel not in senders:
        return "not available"
    return None
