"""Signed survey links: the token in `/s/{token}` (and in an email's unsubscribe link) carries the
survey id only, with an HMAC-SHA256 so nobody can make one up or change it. Whether the survey is
still open (its response window) is read from the survey itself, so a token needs no clock.

    token = base64url(survey_id) "." base64url(first 16 bytes of HMAC(key, purpose "|" survey_id))

`purpose` keeps a token for one use from opening another ("survey" vs "unsubscribe"). Pure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

MAC_BYTES = 16          # 128 bits: forging one is out of reach; the link stays short for an SMS


class TamperedToken(ValueError):
    """Not a token koe signed (wrong shape, changed, or signed for another purpose)."""


def link_key(secret: bytes) -> bytes:
    """The key for links, derived from koe's contact-hash secret so no second secret is needed,
    and never the same bytes as the contact hash itself."""
    return hmac.new(secret, b"koe survey links v1", hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, purpose: str, survey_id: str) -> bytes:
    return hmac.new(key, f"{purpose}|{survey_id}".encode(), hashlib.sha256).digest()[:MAC_BYTES]


def sign(key: bytes, survey_id: str, purpose: str = "survey") -> str:
    return f"{_b64(survey_id.encode())}.{_b64(_mac(key, purpose, survey_id))}"


def verify(key: bytes, token: str, purpose: str = "survey") -> str:
    """The survey id a token carries; TamperedToken when koe did not sign it for `purpose`."""
    head, dot, tail = token.partition(".")
    if not dot or not head or not tail or len(token) > 400:
        raise TamperedToken("not a survey token")
    try:
        survey_id = _unb64(head).decode("utf-8")
        mac = _unb64(tail)
    except (binascii.Error, ValueError) as exc:
        raise TamperedToken("not a survey token") from exc
    if not hmac.compare_digest(mac, _mac(key, purpose, survey_id)):
        raise TamperedToken("the token's signature does not match")
    return survey_id
