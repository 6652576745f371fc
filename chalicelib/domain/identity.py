"""Contacts are keyed by a keyed hash (HMAC-SHA256) of the phone or email, never the raw value.

The hash key is versioned (`Keyring`, from the contact-keys secret): a new contact record is written
under the current version; a record written under an older version that is still listed is still
found (`Keyring.contact_keys` gives the address under every version, current first) and read
together with the current one (`merged`), so an opt-out recorded before a rotation keeps suppressing
after it. Removing a version from the secret forgets what was written under it (the rotation
runbook in docs/operations.md keeps it listed at least as long as koe keeps contacts)."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from chalicelib.domain.model import Contact

KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,16}")     # goes into every link token: short and URL-safe
MIN_KEY_CHARS = 32


class InvalidKeyring(ValueError):
    """The contact-keys secret is not {"current": <kid>, "keys": {<kid>: <key>, ...}} (never shows a key)."""


def contact_key(secret: bytes, address: str) -> str:
    normalized = address.strip().lower() if "@" in address else address.strip()
    return hmac.new(secret, normalized.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Keyring:
    """The contact-hash keys by key id; `current` keys new contact records and new link tokens."""

    current: str
    keys: Mapping[str, bytes]

    def __post_init__(self) -> None:
        if self.current not in self.keys:
            raise InvalidKeyring(f"the current key id {self.current!r} is not among the keys")

    @property
    def current_key(self) -> bytes:
        return self.keys[self.current]

    def contact_key(self, address: str) -> str:
        """The address's contact under the current version: where new records are written."""
        return contact_key(self.current_key, address)

    def contact_keys(self, address: str) -> tuple[str, ...]:
        """The address's contact under every listed version, current first: where records are read."""
        older = [contact_key(key, address) for kid, key in sorted(self.keys.items()) if kid != self.current]
        return (self.contact_key(address), *older)


def parse_keyring(document: Any) -> Keyring:
    example = '{"current": "2027-01", "keys": {"2027-01": "<64 hex>", "2026-06": "<64 hex>"}}'
    if not isinstance(document, Mapping) or set(document) != {"current", "keys"}:
        raise InvalidKeyring(f"takes current and keys, e.g. {example}")
    current, keys = document["current"], document["keys"]
    if not isinstance(keys, Mapping) or not keys:
        raise InvalidKeyring(f"keys maps each key id to its key, e.g. {example}")
    for kid, key in keys.items():
        if not isinstance(kid, str) or not KEY_ID.fullmatch(kid):
            raise InvalidKeyring(f"key id {kid!r} is not 1-16 letters, digits, '-' or '_'")
        if not isinstance(key, str) or len(key) < MIN_KEY_CHARS:
            raise InvalidKeyring(f"keys.{kid} must be a string of at least {MIN_KEY_CHARS} characters")
    if not isinstance(current, str) or current not in keys:
        raise InvalidKeyring(f"current must name one of the keys ({', '.join(sorted(keys))})")
    return Keyring(current, {kid: key.encode() for kid, key in keys.items()})


def merged(key: str, contacts: Sequence[Contact | None]) -> Contact | None:
    """One address's contact read under every key version (current first, as `contact_keys` gives
    them; `key` is the current one): the current record, opted out if any version is, holding the
    conversation of whichever version's slot ends last (a survey sent before the rotation is still
    answered), with every version's survey history (the fatigue rules and cool-down see surveys sent
    before the rotation). The history version is the current record's: the next survey writes the
    merged history there, on its condition. None when no version has a record."""
    current, *older = contacts
    found = [c for c in older if c is not None]
    if not found:
        return current
    base = current or Contact(contact_key=key)
    holders = [c for c in (base, *found) if c.active_survey_id and c.active_until]
    holder = max(holders, key=lambda c: c.active_until or datetime.min) if holders else base
    surveyed = tuple(sorted(set(base.surveyed).union(*(c.surveyed for c in found)), key=lambda s: (s[1], s[0])))
    return replace(base, opted_out=base.opted_out or any(c.opted_out for c in found),
                   active_survey_id=holder.active_survey_id, active_until=holder.active_until, surveyed=surveyed)


def beside(key: str, own: Contact | None, other: Contact | None) -> Contact | None:
    """The contact of the address a survey is keyed by (`key`), as eligibility reads it when the
    customer holds another address with a contact of its own (a LINE user id beside a phone): its own
    opt-out only (an opt-out is per address: blocking koe's LINE account stops LINE, a STOP by SMS
    stops SMS), the conversation either holds (one conversation with a person at a time), and both
    histories (the fatigue rules and cool-down count the surveys sent to either address). The history
    version is its own: the next survey writes the merged history there. None when neither has a record."""
    if other is None:
        return own
    base = own or Contact(contact_key=key)
    holders = [c for c in (base, other) if c.active_survey_id and c.active_until]
    holder = max(holders, key=lambda c: c.active_until or datetime.min) if holders else base
    surveyed = tuple(sorted(set(base.surveyed) | set(other.surveyed), key=lambda s: (s[1], s[0])))
    return replace(base, active_survey_id=holder.active_survey_id, active_until=holder.active_until,
                   surveyed=surveyed)
