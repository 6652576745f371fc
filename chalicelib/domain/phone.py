"""Phone numbers: region from the E.164 prefix, masking for alerts and logs."""

from __future__ import annotations

# Calling codes of the markets koe serves first; longest prefix wins. "+1" is shared by the US and
# Canada (NANP): both support two-way SMS, so the distinction does not change a decision yet.
_REGIONS: dict[str, str] = {
    "1": "US", "44": "GB", "61": "AU", "64": "NZ", "65": "SG", "81": "JP", "86": "CN",
    "852": "HK", "853": "MO", "886": "TW", "82": "KR", "353": "IE",
}

def region_of(e164: str) -> str | None:
    digits = e164.lstrip("+")
    for length in (3, 2, 1):
        region = _REGIONS.get(digits[:length])
        if region:
            return region
    return None


def mask(e164: str | None) -> str | None:
    """+15550100123 -> +1******0123: enough for a CX agent to recognise, useless to a reader."""
    if not e164:
        return None
    digits = e164.lstrip("+")
    prefix = next((digits[:n] for n in (3, 2, 1) if digits[:n] in _REGIONS), digits[:1])
    rest = digits[len(prefix):]
    return f"+{prefix}{'*' * max(len(rest) - 4, 0)}{rest[-4:]}"
