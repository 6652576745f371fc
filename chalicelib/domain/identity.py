"""Contacts are keyed by a keyed hash (HMAC-SHA256) of the phone or email, never the raw value."""

from __future__ import annotations

import hashlib
import hmac


def contact_key(secret: bytes, address: str) -> str:
    normalized = address.strip().lower() if "@" in address else address.strip()
    return hmac.new(secret, normalized.encode("utf-8"), hashlib.sha256).hexdigest()
