"""The local stack's survey definitions (KOE_SURVEY_DEFINITIONS, chalicelib/domain/questions.py):
one procedure asked on each scale, so the phone page, the mailbox and the CX dashboard show NPS,
CSAT and CES side by side (`make seed` fills a month of each). koe's own default, NPS for every
procedure, is what AWS gets unless infra/ says otherwise.

    claim_payment, new_policy, anything else   NPS 0-10
    address_change                             CSAT 1-5
    call_center                                CES 1-7

An environment that brings its own KOE_SURVEY_DEFINITIONS keeps it (as with local_routing.py).
"""

from __future__ import annotations

import json
from typing import Any

DEFINITIONS: dict[str, dict[str, Any]] = {
    "_default": {"scale": "nps", "version": 1},
    "address_change": {"scale": "csat", "version": 1},
    "call_center": {"scale": "ces", "version": 1},
}


def settings() -> dict[str, str]:
    """The settings variable the local stack adds for what each procedure asks first."""
    return {"KOE_SURVEY_DEFINITIONS": json.dumps(DEFINITIONS)}
