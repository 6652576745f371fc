"""One address's contact across the versions of the contact-hash key (domain/identity.py): read
under every listed version (one read each: two only while a rotation's old key is still listed),
written under the current one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from chalicelib.domain.identity import merged
from chalicelib.domain.model import Contact
from chalicelib.services.ports import ConversationStore

ContactKey = Callable[[str], str]                   # an address's contact under the current version
ContactKeys = Callable[[str], Sequence[str]]        # ... under every listed version, current first


@dataclass(frozen=True)
class AddressContact:
    keys: tuple[str, ...]                          # current first
    records: tuple[Contact | None, ...]            # one per key

    @property
    def key(self) -> str:
        """Where this address's contact is written: the current version."""
        return self.keys[0]

    @property
    def contact(self) -> Contact | None:
        return merged(self.key, self.records)

    @property
    def opted_out_keys(self) -> tuple[str, ...]:
        """The versions whose record says opted out: an opt-in clears each."""
        return tuple(key for key, record in zip(self.keys, self.records, strict=True)
                     if record is not None and record.opted_out)


def every_key(address: str, contact_key: ContactKey, contact_keys: ContactKeys | None) -> tuple[str, ...]:
    return tuple(contact_keys(address)) if contact_keys is not None else (contact_key(address),)


def read(store: ConversationStore, address: str, contact_key: ContactKey,
         contact_keys: ContactKeys | None) -> AddressContact:
    keys = every_key(address, contact_key, contact_keys)
    return AddressContact(keys, tuple(store.get_contact(key) for key in keys))
