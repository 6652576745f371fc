"""Which channel reaches a customer, and the rule that chose it.

Per country (the phone number's region), channels in order of preference: two-way SMS where
carriers take replies, LINE in Japan, one-way SMS with a link to the web survey where links are
allowed, email otherwise. The first channel the customer can be reached on wins: the customer must
hold an open address of the channel's kind (`domain/channels.py`: a phone for SMS, a LINE user id
that has not blocked koe's account for LINE, an email address that has not unsubscribed or bounced
for email), and every channel needs a sender deployed.
The rule is stored on the survey (`channel_reason`), e.g. `JP:line`, `JP:sms_link (line: none)`,
`CN:sms_cn`, `CN:email (sms_cn: not available; wechat: none)`, `no_phone:email`.

Pure: the caller passes what it knows of the customer's addresses and which channels it can send on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from chalicelib.domain import channels
from chalicelib.domain.channels import (
    EMAIL,
    LINE,
    SMS_CN,
    SMS_LINK,
    SMS_TWO_WAY,
    WECHAT,
    AddressKind,
    UnknownChannel,
)

__all__ = ["CHANNELS", "EMAIL", "LINE", "NONE", "SMS_CN", "SMS_LINK", "SMS_TWO_WAY", "WECHAT", "Channel",
           "ChannelPolicy", "Reach", "UnknownChannel", "choose"]

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
    # No two-way SMS in Japan: LINE is the two-way channel there, for a customer linked to koe's
    # account (a LINE user id); else links in SMS are allowed (carriers filter some: keep them short).
    "JP": (LINE, SMS_LINK, EMAIL),
    # No two-way SMS, and links in SMS are blocked unless templates are registered: China SMS (Alibaba's
    # approved templates, the page's link in its approved place), then a WeChat template message to a
    # follower of the service account, then email. A channel whose sender this deployment does not run
    # (its secret and template book) is passed over, with the reason.
    "CN": (SMS_CN, WECHAT, EMAIL),
    ANY_COUNTRY: (EMAIL, SMS_LINK),
}


@dataclass(frozen=True)
class Channel:
    name: str        # a channel of domain/channels.py, or none
    reason: str      # the rule that chose it


@dataclass(frozen=True)
class Reach:
    """What koe knows of how to reach one customer, as intake has it: the kinds of address it holds
    (`addresses`) and those the customer closed to surveys (`blocked`: an email address unsubscribed
    or hard-bounced, a LINE user id that blocked koe's account). The policy reads it by address kind,
    the way each channel's row names the address it needs."""

    phone_region: str | None = None                        # ISO 3166 country of the phone number
    addresses: frozenset[AddressKind] = frozenset()
    blocked: frozenset[AddressKind] = frozenset()

    def block(self, kind: AddressKind) -> Reach:
        """The same customer with the `kind` address closed to surveys."""
        return replace(self, blocked=self.blocked | {kind})


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
    registry's order (LINE, then email); when none can be used, the rule names the obstacle of the
    first one whose address the customer holds (else of the first one)."""
    obstacles: list[tuple[bool, str]] = []
    for row in channels.all_channels():
        if row.address is AddressKind.PHONE:
            continue
        held = row.address in reach.addresses
        if row.name not in senders:
            obstacles.append((held, f"{row.name}_not_available"))
        elif not held:
            obstacles.append((held, f"no_{row.address.value}"))
        elif row.address in reach.blocked:
            obstacles.append((held, f"{row.name}_blocked"))
        else:
            return Channel(row.name, f"no_phone:{row.name}")
    named = [why for held, why in obstacles if held] or [why for _, why in obstacles]
    return Channel(NONE, f"no_phone:{named[0] if named else 'none'}")


def _why_not(channel: str, reach: Reach, senders: frozenset[str]) -> str | None:
    address = channels.get(channel).address
    if address not in reach.addresses:
        return "none"
    if address in reach.blocked:
        return "blocked"
    if channel not in senders:
        return "not available"
    return None
