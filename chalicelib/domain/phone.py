"""Phone numbers masked for alerts, logs and pages: the calling code and the last four digits.

(A number's country and zone, for the channel policy and the send window, come from the
`phonenumbers` package: adapters/phone_numbers.py.)"""

from __future__ import annotations

# Calling codes of the markets koe serves first: the prefix a masked number keeps.
_CALLING_CODES = frozenset({"1", "44", "61", "64", "65", "81", "86", "852", "853", "886", "82", "353"})


def mask(e164: str | None) -> str | None:
    """+15550100123 -> +1******0123: enough for a CX agent to recognise, useless to a reader."""
    if not e164:
        return None
    digits = e164.lstrip("+")
    prefix = next((digits[:n] for n in (3, 2, 1) if digits[:n] in _CALLING_CODES), digits[:1])
    rest = digits[len(prefix):]
    return f"+{prefix}{'*' * max(len(rest) - 4, 0)}{rest[-4:]}"
