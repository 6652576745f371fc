"""Survey links: the token in `/s/{token}` (and in an email's unsubscribe link) names one survey, and
nobody can make one up, change one, or read anything out of one. The survey id is an operations
system's event id (business data), so the token carries it encrypted, not merely signed. Whether
the survey is still open (its response window) is read from the survey itself: a token needs no clock.

    tag   = first 16 bytes of HMAC-SHA256(mac key, purpose 0x00 survey_id)
    token = base64url(tag || survey_id XOR HMAC-SHA256-CTR(encryption key, tag))

A deterministic authenticated encryption with a synthetic IV (SIV, RFC 5297's construction, on
HMAC-SHA256 from the standard library): the tag authenticates the survey id and the purpose and is
the counter mode's IV, so one survey and purpose always give the same token (links made again stay
the same link), two surveys give unrelated ones, and a changed byte anywhere is refused. `purpose`
keeps a token for one use from opening another ("survey" vs "unsubscribe"). Pure.

The link key is derived from a version of the contact-hash key (domain/identity.py `Keyring`), and a
token names that version: `<key id>.<token>` (`LinkKeys`). A link keeps opening while its key id is
listed in the contact-keys secret; one whose key id was removed (or never existed) is refused as
`UnknownKeyId`, a TamperedToken: the customer sees the invalid-link page, never an error. A token
without a key id (made before keys were versioned) is tried against every listed key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from chalicelib.domain.identity import Keyring

TAG_BYTES = 16          # 128 bits: forging one is out of reach; the link stays short for an SMS
# A survey id is an event id (at most 128 characters, up to 512 bytes of UTF-8): ~700 characters of token.
MAX_TOKEN_CHARS = 1024
KEY_ID_SEPARATOR = "."           # URL-safe, and never in base64url: splits a token once, unambiguously
_URL_SAFE = re.compile(r"[A-Za-z0-9_-]+")


class TamperedToken(ValueError):
    """Not a token koe made (wrong shape, changed, or made for another purpose)."""


class UnknownKeyId(TamperedToken):
    """The token names a key id the contact-keys secret no longer (or never) listed."""


def link_key(secret: bytes) -> bytes:
    """The key for links, derived from koe's contact-hash secret so no second secret is needed,
    and never the same bytes as the contact hash itself."""
    return hmac.new(secret, b"koe survey links v1", hashlib.sha256).digest()


def sign(key: bytes, survey_id: str, purpose: str = "survey") -> str:
    plain = survey_id.encode("utf-8")
    tag = _tag(key, purpose, plain)
    return _b64(tag + _xor(plain, _keystream(key, tag, len(plain))))


def verify(key: bytes, token: str, purpose: str = "survey") -> str:
    """The survey id a token carries; TamperedToken when koe did not make it for `purpose`."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _URL_SAFE.fullmatch(token):
        raise TamperedToken("not a survey token")
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError) as exc:
        raise TamperedToken("not a survey token") from exc
    if _b64(raw) != token:          # one spelling per token (base64's spare bits left at zero)
        raise TamperedToken("not a survey token")
    tag, cipher = raw[:TAG_BYTES], raw[TAG_BYTES:]
    if not cipher:
        raise TamperedToken("not a survey token")
    plain = _xor(cipher, _keystream(key, tag, len(cipher)))
    if not hmac.compare_digest(tag, _tag(key, purpose, plain)):
        raise TamperedToken("the token's tag does not match")
    try:
        return plain.decode("utf-8")
    except UnicodeDecodeError as exc:       # authenticated, so koe made it: only from a bug
        raise TamperedToken("not a survey token") from exc


def _subkey(key: bytes, use: bytes) -> bytes:
    return hmac.new(key, use, hashlib.sha256).digest()


def _tag(key: bytes, purpose: str, plain: bytes) -> bytes:
    message = purpose.encode("utf-8") + b"\x00" + plain
    return hmac.new(_subkey(key, b"authenticate"), message, hashlib.sha256).digest()[:TAG_BYTES]


def _keystream(key: bytes, tag: bytes, length: int) -> bytes:
    encryption = _subkey(key, b"encrypt")
    blocks = (hmac.new(encryption, tag + counter.to_bytes(4, "big"), hashlib.sha256).digest()
              for counter in range(-(-length // hashlib.sha256().digest_size)))
    return b"".join(blocks)[:length]


def _xor(data: bytes, stream: bytes) -> bytes:
    return bytes(a ^ b for a, b in zip(data, stream, strict=True))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class LinkKeys:
    """The link keys of every listed contact-key version; new tokens use the current one."""

    current: str
    keys: Mapping[str, bytes]          # key id -> link key

    @classmethod
    def of(cls, keyring: Keyring) -> LinkKeys:
        return cls(keyring.current, {kid: link_key(secret) for kid, secret in keyring.keys.items()})

    def sign(self, survey_id: str, purpose: str = "survey") -> str:
        return f"{self.current}{KEY_ID_SEPARATOR}{sign(self.keys[self.current], survey_id, purpose)}"

    def verify(self, token: str, purpose: str = "survey") -> str:
        """The survey id; UnknownKeyId for a key id not listed, TamperedToken for anything else koe
        did not make for `purpose` under a listed key."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
            raise TamperedToken("not a survey token")
        kid, separator, body = token.rpartition(KEY_ID_SEPARATOR)
        if not separator:                    # made before keys were versioned: any listed key
            for key in self.keys.values():
                try:
                    return verify(key, token, purpose)
                except TamperedToken:
                    continue
            raise TamperedToken("no listed key made this token")
        listed = self.keys.get(kid)
        if listed is None:
            raise UnknownKeyId("the token's key id is not listed")
        return verify(listed, body, purpose)
