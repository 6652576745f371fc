"""Who hears about a case alert, and how: the pure decisions of alert delivery.

A case alert (domain/case_alerts.py) names its recipients by address (`agent:A-12`, `branch:tokyo-01`,
`person:mgr-tokyo`, `central`); the routing table (domain/case_routing.py) turns each into a contact
point, and broadcast subscribers (KOE_ALERT_SUBSCRIBERS) add anyone whose filter matches the alert's
SNS message attributes, with SNS filter-policy semantics. The result is a plan: the deduplicated
destinations (one per email address or chat webhook, whoever asked for it first choosing its
language and time zone) and the recipient addresses the table could not resolve.

An unresolved address is never dropped silently: the service logs and counts it, and the alert goes
to the central contact point in its place (the routing rule "never nobody"), when central can be
reached.

Each destination has a stable `key` (a hash of its address: webhook URLs are secrets and email
addresses personal data, so neither is stored or logged); `delivery_id(alert_id, key)` is what the
delivery ledger keeps, so a replayed alert is delivered once per destination.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain import case_alerts
from chalicelib.domain.case_routing import CENTRAL, ContactPoint, RoutingTable
from chalicelib.domain.escalation import one_line
from chalicelib.domain.languages import LANGUAGES

EMAIL = "email"
CHAT = "chat"
KINDS = (EMAIL, CHAT)
# Message attributes a subscriber may filter on (case_alerts.attributes names them).
FILTER_KEYS = ("procedure", "branch", "severity", "event", "agent_id")
# Delivery outcomes the ledger keeps: finished (delivered, given_up) or claimable again (failed).
DELIVERED = "delivered"
GIVEN_UP = "given_up"
FAILED = "failed"
FINISHED = (DELIVERED, GIVEN_UP)
UNRESOLVED_KEY = "unresolved"
MAX_VALUE_CHARS = 1000          # a customer's comment longer than this is cut (the case keeps it whole)
SQS_MAX_VISIBILITY_S = 12 * 3600


class InvalidSubscribers(ValueError):
    """KOE_ALERT_SUBSCRIBERS cannot be read; says which entry and why."""


@dataclass(frozen=True)
class Subscriber:
    """Someone who hears about every alert its filter matches (no filter: every alert)."""

    name: str
    contact: ContactPoint
    filter: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def wants(self, attributes: Mapping[str, str]) -> bool:
        """SNS filter-policy semantics: every key must match; within a key, any listed value. An
        attribute the message does not carry (or carries empty: SNS drops those) matches nothing."""
        return all(attributes.get(key) in allowed for key, allowed in self.filter.items())


@dataclass(frozen=True)
class Destination:
    kind: str           # email | chat
    address: str        # an email address or a webhook URL: personal or secret, never logged
    language: str
    timezone: str
    key: str            # stable, no personal data: what the ledger and the logs name
    source: str         # whom it is for: a recipient address (agent:A-12) or subscriber:<name>


@dataclass(frozen=True)
class Plan:
    destinations: tuple[Destination, ...]
    unresolved: tuple[str, ...]       # recipient addresses the routing table could not resolve


@dataclass(frozen=True)
class AlertContent:
    """An alert rendered for one language and time zone: a one-line subject and a plain-text body."""

    subject: str
    body: str


# --- who -----------------------------------------------------------------------------------------

def destination_key(kind: str, address: str) -> str:
    """Stable per destination. Email addresses compare case-insensitively; webhook URLs exactly
    (their tokens are case-sensitive)."""
    normal = address.strip().lower() if kind == EMAIL else address.strip()
    return f"{kind}:{hashlib.sha256(normal.encode()).hexdigest()[:24]}"


def delivery_id(alert_id: str, key: str) -> str:
    return f"{alert_id}#{key}"


def unresolved_id(alert_id: str, address: str) -> str:
    """The ledger entry that counts an unresolvable recipient once per alert (addresses are ids)."""
    return f"{alert_id}#{UNRESOLVED_KEY}:{address}"


def _reachable(point: ContactPoint | None) -> bool:
    return point is not None and bool(point.email or point.chat)


def _of(point: ContactPoint, source: str) -> list[Destination]:
    found = []
    for kind, address in ((EMAIL, point.email), (CHAT, point.chat)):
        if address:
            found.append(Destination(kind, address, point.language, point.timezone,
                                     destination_key(kind, address), source))
    return found


def destinations(message: Mapping[str, Any], routing: RoutingTable,
                 subscribers: Sequence[Subscriber]) -> Plan:
    """The message's recipients (in order), then the subscribers who want it; one destination per
    address (the first to name it decides its language and time zone)."""
    found: list[Destination] = []
    unresolved: list[str] = []
    for address in message.get("to", []):
        point = routing.contact_point(address)
        if _reachable(point):
            assert point is not None
            found += _of(point, address)
            continue
        unresolved.append(address)
        if address != CENTRAL and _reachable(routing.central):
            found += _of(routing.central, f"{CENTRAL} (for {address})")
    attributes = case_alerts.attributes(dict(message))
    for subscriber in subscribers:
        if subscriber.wants(attributes):
            found += _of(subscriber.contact, f"subscriber:{subscriber.name}")
    unique: dict[str, Destination] = {}
    for destination in found:
        unique.setdefault(destination.key, destination)
    return Plan(tuple(unique.values()), tuple(dict.fromkeys(unresolved)))


# --- when to try again ------------------------------------------------------------------------------

def retry_delay(receive_count: int, base_s: int, cap_s: int) -> int:
    """Exponential backoff for a record that failed on its `receive_count`-th delivery:
    base, 2 x base, 4 x base ... capped (and never beyond what SQS allows)."""
    exponent = max(0, receive_count - 1)
    delay = base_s * (1 << min(exponent, 30))
    return max(0, min(delay, cap_s, SQS_MAX_VISIBILITY_S))


# --- what people read -------------------------------------------------------------------------------

def _zone(name: str) -> tuple[ZoneInfo, str]:
    """The zone, or UTC when the name is unknown (the alert is still worth reading)."""
    try:
        return ZoneInfo(name), name
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC"), "UTC"


def local_time(iso: str, zone: str) -> tuple[str, str]:
    """An ISO 8601 instant as `YYYY-MM-DD HH:MM` in `zone`, and the zone's name as used."""
    tz, name = _zone(zone)
    at = datetime.fromisoformat(iso)
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(tz).strftime("%Y-%m-%d %H:%M"), name


def _line(value: object) -> str:
    text = one_line(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + "…"


def view(message: Mapping[str, Any], timezone: str) -> dict[str, Any]:
    """The alert's values as templates show them to a recipient in `timezone`: every value from the
    message on one line (`escalation.one_line`: a customer's line break is shown, never obeyed);
    None where the message has none (the template says "none yet" in its language); codes
    (severity, status, consent, reasons) for the template to word."""
    customer_zone = str(message.get("customer_timezone") or "UTC")
    due, here = local_time(message["first_contact_due"], timezone)
    due_customer, there = local_time(message["first_contact_due"], customer_zone)
    resolve, _ = local_time(message["resolution_due"], timezone)
    resolve_customer, _ = local_time(message["resolution_due"], customer_zone)
    at, _ = local_time(message["at"], timezone)
    consent = message.get("callback_consent")

    def optional(name: str) -> str | None:
        value = message.get(name)
        return None if value is None or value == "" else _line(value)

    return {
        "event": str(message["event"]),
        "case_id": _line(message["case_id"]),
        "procedure": _line(message["procedure"]),
        "branch": optional("branch"),
        "agent": optional("agent_id"),
        "owner": _line(message["owner"]),
        "customer_id": _line(message["customer_id"]),
        "phone": optional("phone"),
        "comment": optional("comment"),
        "score": _line(message["score"]),
        "severity": _line(message["severity"]),
        "status": _line(message["status"]),
        "consent": "unknown" if consent is None else ("yes" if consent else "no"),
        "reasons": [_line(reason) for reason in message.get("reasons", [])],
        "at": at,
        "first_contact_due": due,
        "first_contact_due_customer": due_customer,
        "resolution_due": resolve,
        "resolution_due_customer": resolve_customer,
        "recipient_timezone": here,
        "customer_timezone": there,
    }


def _slack_escape(text: str) -> str:
    """Slack reads <...> as links and mentions (<!channel>): escape &, < and > as its docs say, so a
    customer's words can never ping a channel or hide a link."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def chat_payload(content: AlertContent) -> dict[str, Any]:
    """A Slack-compatible incoming-webhook message (Mattermost and others read the same `text`)."""
    return {"text": f"*{_slack_escape(content.subject)}*\n{_slack_escape(content.body)}"}


# --- configuration -----------------------------------------------------------------------------------

def parse_subscribers(raw: Any) -> tuple[Subscriber, ...]:
    """KOE_ALERT_SUBSCRIBERS from its JSON value: a list of
    {"name", "email"?, "chat"?, "language"?, "timezone"?, "filter"?}; InvalidSubscribers otherwise."""
    if not isinstance(raw, list):
        raise InvalidSubscribers("must be a JSON list of subscribers")
    parsed = [_subscriber(entry, f"[{n}]") for n, entry in enumerate(raw)]
    names = [s.name for s in parsed]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InvalidSubscribers(f"names must be unique: {', '.join(duplicates)}")
    return tuple(parsed)


def _subscriber(entry: Any, where: str) -> Subscriber:
    if not isinstance(entry, Mapping):
        raise InvalidSubscribers(f"{where} must be an object")
    unknown = set(entry) - {"name", "email", "chat", "language", "timezone", "filter"}
    if unknown:
        raise InvalidSubscribers(f"{where} has unknown keys: {', '.join(sorted(unknown))}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise InvalidSubscribers(f"{where}.name is required")
    where = f"{where} ({name})"
    email, chat = entry.get("email"), entry.get("chat")
    if email is None and chat is None:
        raise InvalidSubscribers(f"{where} needs an email or a chat webhook")
    if email is not None and not _looks_like_email(email):
        raise InvalidSubscribers(f"{where}.email must be an email address")
    if chat is not None and not (isinstance(chat, str) and chat.startswith(("https://", "http://"))):
        raise InvalidSubscribers(f"{where}.chat must be an http(s) URL")
    language = entry.get("language", "en")
    if language not in LANGUAGES:
        raise InvalidSubscribers(f"{where}.language must be one of {', '.join(LANGUAGES)}")
    timezone = entry.get("timezone", "UTC")
    if not isinstance(timezone, str) or _zone(timezone)[1] != timezone:
        raise InvalidSubscribers(f"{where}.timezone must be an IANA time zone, e.g. Asia/Tokyo")
    return Subscriber(name.strip(), ContactPoint(email=email, chat=chat, language=language, timezone=timezone),
                      _filter(entry.get("filter", {}), f"{where}.filter"))


def _looks_like_email(value: Any) -> bool:
    if not isinstance(value, str) or any(c.isspace() for c in value):
        return False
    local, at, domain = value.rpartition("@")
    return bool(at and local and "." in domain)


def _filter(raw: Any, where: str) -> dict[str, frozenset[str]]:
    if not isinstance(raw, Mapping):
        raise InvalidSubscribers(f"{where} must be an object of lists")
    unknown = set(raw) - set(FILTER_KEYS)
    if unknown:
        raise InvalidSubscribers(f"{where} has unknown keys: {', '.join(sorted(unknown))} "
                                 f"(one of {', '.join(FILTER_KEYS)})")
    parsed: dict[str, frozenset[str]] = {}
    for key, values in raw.items():
        if not _strings(values):
            raise InvalidSubscribers(f"{where}.{key} must be a non-empty list of strings")
        parsed[key] = frozenset(values)
    return parsed


def _strings(values: Any) -> bool:
    return isinstance(values, list) and bool(values) and all(isinstance(v, str) and v for v in values)
