"""SMS segments: what a message costs. GSM-7 fits 160 characters (153 per part when split);
one character outside it forces UCS-2 at 70 (67 per part)."""

from __future__ import annotations

import re

# The longest message Twilio delivers (its Body limit): a longer webhook body is no SMS, and is cut
# to this before it is stored (a DynamoDB item holds 400 KB), with a flag saying it was cut.
MAX_REPLY_CHARS = 1600
# A Message resource's SID: SM (SMS) or MM (MMS) and 32 hex digits (Twilio's API reference).
_MESSAGE_SID = re.compile(r"(SM|MM)[0-9a-fA-F]{32}")

_GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM7_EXTENDED = set("^{}\\[~]|€")   # each costs two septets


def is_gsm7(text: str) -> bool:
    return all(ch in _GSM7 or ch in _GSM7_EXTENDED for ch in text)


def segments(text: str) -> int:
    if is_gsm7(text):
        units = sum(2 if ch in _GSM7_EXTENDED else 1 for ch in text)
        single, part = 160, 153
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)   # UTF-16 code units
        single, part = 70, 67
    if units <= single:
        return 1
    return -(-units // part)


def is_message_sid(value: str) -> bool:
    return _MESSAGE_SID.fullmatch(value) is not None


def kept_reply(body: str) -> tuple[str, bool]:
    """The reply as koe keeps it, and whether it had to be cut (never dropped: what fits is read)."""
    if len(body) <= MAX_REPLY_CHARS:
        return body, False
    return body[:MAX_REPLY_CHARS], True
