"""The instant every local stack of the test suite starts its clock at (`python -m devstack
--clock-start`), so no test depends on today's date or hour.

`KOE_TEST_CLOCK` moves it: `make test-clock` runs the clock-sensitive tests (marked `clock`) at a
Saturday, a Japanese and a Chinese public holiday, 31 December 23:59 UTC and 03:00 UTC (CLOCK_INSTANTS).
"""

from __future__ import annotations

import os
from datetime import datetime

ENV = "KOE_TEST_CLOCK"
# A Wednesday that is no holiday in Japan, China, the US or the UK: 12:00 in Tokyo, 11:00 in
# Shanghai, 22:00 the evening before in New York.
DEFAULT = "2026-11-18T03:00:00Z"

# The instants `make test-clock` runs the clock-sensitive tests at (the Makefile lists the same).
CLOCK_INSTANTS = {
    "saturday": "2026-11-28T03:00:00Z",             # 12:00 on a Saturday in Tokyo and Shanghai
    "japanese-holiday": "2026-11-23T02:00:00Z",     # 勤労感謝の日 (Labour Thanksgiving Day), a Monday
    "chinese-holiday": "2026-10-01T04:00:00Z",      # 国庆节 (National Day), a Thursday
    "new-year-eve": "2026-12-31T23:59:00Z",         # the last minute of the year in UTC; 08:59 on 1 January in Tokyo
    "utc-0300": DEFAULT,                            # 03:00 UTC
}


def start_text() -> str:
    return os.environ.get(ENV) or DEFAULT


def start() -> datetime:
    """The instant the test stacks start at (aware, UTC)."""
    return datetime.fromisoformat(start_text().replace("Z", "+00:00"))


def devstack_args() -> list[str]:
    """What a test passes to `python -m devstack` so the stack starts on the pinned clock."""
    return ["--clock-start", start_text()]
