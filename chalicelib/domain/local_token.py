"""The local stack's bearer tokens: ID tokens with Cognito's claims (domain/claims.py), signed with
HS256 and a secret only the local stack holds (KOE_LOCAL_TOKEN_SECRET). In AWS, Cognito issues the
tokens and API Gateway verifies them; these let the CX routes be used and tested without AWS.

    token   = base64url(header) "." base64url(payload) "." base64url(HMAC-SHA256(secret, the two))
    header  = {"alg": "HS256", "typ": "JWT"}
    payload = {"sub", "cognito:groups", "custom:branch"?, "custom:agent_id"?,
               "iss": "koe-local", "aud": "koe-local", "token_use": "id", "iat", "exp"}

`verify` accepts HS256 only (never `none`, never an algorithm the token names for itself), checks
the signature in constant time before reading the payload, then the issuer, audience and token use,
and the times against `now` with a small leeway: not expired, not issued in the future (nor before
its nbf, if any), and no longer-lived than MAX_LIFETIME (a token good for years is a token someone
made to keep). Anything else is "not a token": None, never an exception. Pure: the time is an argument.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

ALGORITHM = "HS256"
ISSUER = "koe-local"
AUDIENCE = "koe-local"
TOKEN_USE = "id"
LEEWAY = timedelta(seconds=60)       # clock skew between whoever minted the token and the app
MAX_LIFETIME = timedelta(hours=24)   # a working day and then some; Cognito's ID tokens last 1 h
MIN_SECRET_CHARS = 32
MAX_TOKEN_CHARS = 4096               # a koe token is ~400 characters: longer is not one of ours

_COMPACT = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def mint(secret: str, claims: Mapping[str, Any], issued_at: datetime, lifetime: timedelta) -> str:
    """A signed token carrying `claims` plus iss, aud, token_use, iat and exp."""
    if len(secret) < MIN_SECRET_CHARS:
        raise ValueError(f"the secret must be at least {MIN_SECRET_CHARS} characters")
    if not timedelta(0) < lifetime <= MAX_LIFETIME:
        raise ValueError(f"the lifetime must be positive and at most {MAX_LIFETIME}")
    payload = {**claims, "iss": ISSUER, "aud": AUDIENCE, "token_use": TOKEN_USE,
               "iat": int(issued_at.timestamp()), "exp": int((issued_at + lifetime).timestamp())}
    signing_input = f"{_json_b64({'alg': ALGORITHM, 'typ': 'JWT'})}.{_json_b64(payload)}"
    return f"{signing_input}.{_b64(_signature(secret, signing_input))}"


def verify(secret: str, token: str, now: datetime, leeway: timedelta = LEEWAY) -> dict[str, Any] | None:
    """The token's claims when this secret signed it and it is current at `now`; else None."""
    try:
        return _verified(secret, token, now.timestamp(), leeway.total_seconds())
    except (ValueError, TypeError, RecursionError):     # bad base64, UTF-8 or JSON: not a token
        return None
    except OverflowError:                               # a time past any float (10**400): not a token
        return None


def _verified(secret: str, token: str, now: float, leeway: float) -> dict[str, Any] | None:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _COMPACT.fullmatch(token):
        return None
    head, body, signature = token.split(".")
    header = _json_object(head)
    if header is None or header.get("alg") != ALGORITHM or "crit" in header:
        return None
    expected = _b64(_signature(secret, f"{head}.{body}"))
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        return None
    claims = _json_object(body)
    if claims is None or claims.get("iss") != ISSUER or claims.get("token_use") != TOKEN_USE:
        return None
    audience = claims.get("aud")
    if not (audience == AUDIENCE or (isinstance(audience, list) and AUDIENCE in audience)):
        return None
    expires, issued = _seconds(claims.get("exp")), _seconds(claims.get("iat"))
    not_before = _seconds(claims.get("nbf", 0))
    if expires is None or issued is None or not_before is None:
        return None
    # Issued in the future: made up, or minted on the local stack's clock before a restart set it
    # back to the wall clock (mint another). Both kinds are refused, as is a lifetime over the maximum.
    if now > expires + leeway or not_before > now + leeway or issued > now + leeway:
        return None
    if expires - issued > MAX_LIFETIME.total_seconds():
        return None
    return claims


def _signature(secret: str, signing_input: str) -> bytes:
    return hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()


def _seconds(value: Any) -> float | None:
    """A NumericDate: a finite number of seconds (JSON true/false are not numbers here); else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _json_b64(value: Mapping[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))


def _json_object(part: str) -> dict[str, Any] | None:
    decoded = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("utf-8"),
                         parse_constant=_not_a_number)
    return decoded if isinstance(decoded, dict) else None


def _not_a_number(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def payload_unverified(token: str) -> dict[str, Any]:
    """A compact JWT's claims WITHOUT checking its signature: only for a token its issuer has just
    accepted (Cognito's GetUser, auth.CognitoSessions); {} when it is not a readable JWT."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or not _COMPACT.fullmatch(token):
        return {}
    try:
        return _json_object(token.split(".")[1]) or {}
    except (ValueError, TypeError, RecursionError):
        return {}
