"""Which channel reaches a customer, and the rule that chose it.

Per country (the phone number's region), channels in order of preference: two-way SMS where
carriers take replies, one-way SMS with a link to the web survey where links are allowed, email
otherwise. The first channel the customer can be reached on wins: the customer must hold an open
address of the channel's kind (`domain/channels.py`: a phone for SMS, an email address that has not
unsubscribed or bounced for email), and every channel needs a sender deployed.
The rule is stored on the survey (`channel_reason`), e.g. `JP:sms_link`, `CN:sms_link (email: none)`,
`no_phone:email`.

Pure: the caller passes what it knows of the customer's addresses and which channels it can send on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from chalicelib.domain import channels
from chalicelib.domain.channels import EMAIL, SMS_LINK, SMS_TWO_WAY, AddressKind, UnknownChannel

__all__ = ["CHANNELS", "EMAIL", "NONE", "SMS_LINK", "SMS_TWO_WAY", "Channel", "ChannelPolicy", "Reach",
           "UnknownChannel", "choose"]

NONE = "none"                  # no channel reaches the customer: the survey is suppressed
CHANNELS = channels.names()

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


@dataclass(frozen=True)
class Channel:
    name: str        # sms_two_way, sms_link, email, or none
    reason: str      # the rule that chose it


@dataclass(frozen=True)
class Reach:
    """What koe knows of how to reach one customer, as intake has it. The policy reads it by address
    kind (`addresses`, `blocked`), the way each channel's row names the address it needs."""

    phone_region: str | None = None   # ISO 3166 country of the phone number; None: no phone
    has_phone: bool = False
    has_email: bool = False
    email_blocked: bool = False       # unsubscribed from email, or the address hard-bounced

    @property
    def addresses(self) -> frozenset[AddressKind]:
        """The kinds of address koe holds for the customer."""
        held = ((AddressKind.PHONE, self.has_phone), (AddressKind.EMAIL, self.has_email))
        return frozenset(kind for kind, has in held if has)

    @property
    def blocked(self) -> frozenset[AddressKind]:
        """The kinds whose address the customer closed to surveys."""
        return frozenset({AddressKind.EMAIL}) if self.email_blocked else frozenset()


@dataclass(frozen=True)
class ChannelPolicy:
    preferences: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PREFERENCES))

    @classmethod
    def with_overrides(cls, overrides: Mapping[str, Iterable[str]]) -> ChannelPolicy:
        """The defaults, with some countries (or "*") given their own order."""
        merged = dict(DEFAULT_PREFERENCES)
        for country, names in overrides.items():
            order = tuple(names)
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
    if AddressKind.PHONE not in reach.addresses:
        return _without_phone(reach, senders)
    country = reach.phone_region or "unknown"
    skipped: list[str] = []
    for name in policy.for_country(country):
        why_not = _why_not(name, reach, senders)
        if why_not is None:
            return Channel(name, f"{country}:{name}" + (f" ({'; '.join(skipped)})" if skipped else ""))
        skipped.append(f"{name}: {why_not}")
    return Channel(NONE, f"{country}:none ({'; '.join(skipped)})")


def _without_phone(reach: Reach, senders: frozenset[str]) -> Channel:
    """No phone, so no country to take an order from: the channels that need no phone, in the
    registry's order; the rule names the first one's obstacle when none can be used."""
    obstacles: list[str] = []
    for row in channels.all_channels():
        if row.address is AddressKind.PHONE:
            continue
        if row.name not in senders:
            obstacles.append(f"{row.name}_not_available")
        elif row.address not in reach.addresses:
            obstacles.append(f"no_{row.address.value}")
        elif row.address in reach.blocked:
            obstacles.append(f"{row.name}_blocked")
        else:
            return Channel(row.name, f"no_phone:{row.name}")
    return Channel(NONE, f"no_phone:{obstacles[0] if obstacles else 'none'}")


def _why_not(channel: str, reach: Reach, senders: frozenset[str]) -> str | None:
    address = channels.get(channel).address
    if address not in reach.addresses:
        return "none"
    if address in reach.blocked:
        return "blocked"
    if channel not in senders:
        return "not available"
    return None
