"""The instant every local stack of the test suite starts its clock at (`python -m devstack
--clock-start`), so no test depends on today's date or hour.

`KOE_TEST_CLOCK` moves it: `make test-clock` runs the clock-sensitive tests (marked `clock`) at a
Saturday, a Japanese and a Chinese public holiday, 31 December 23:59 UTC and the instant the seed test
was found red (CLOCK_INSTANTS); the main run covers DEFAULT.
"""

from __future__ import annotations

import os
from datetime import datetime

ENV = "KOE_TEST_CLOCK"
# A Wednesday that is no holiday in Japan, China, the US or the UK: 12:00 in Tokyo, 11:00 in
# Shanghai, 22:00 the evening before in New York.
DEFAULT = "2026-11-18T03:00:00Z"

# The instants `make test-clock` runs the clock-sensitive tests at (the Makefile lists the same). DEFAULT
# (03:00 UTC, a plain Wednesday) is not among them: the main test run already pins every stack there.
CLOCK_INSTANTS = {
    "saturday": "2026-11-28T03:00:00Z",             # 12:00 on a Saturday in Tokyo and Shanghai
    "japanese-holiday": "2026-11-23T02:00:00Z",     # 勤労感謝の日 (Labour Thanksgiving Day), a Monday
    "chinese-holiday": "2026-10-01T04:00:00Z",      # 国庆节 (National Day), a Thursday
    "new-year-eve": "2026-12-31T23:59:00Z",         # the last minute of the year in UTC; 08:59 on 1 January in Tokyo
    "found-red": "2026-12-04T14:31:00Z",            # the seed test resolved no case seeded from here
}


def start_text() -> str:
    return os.environ.get(ENV) or DEFAULT


def start() -> datetime:
    """The instant the test stacks start at (aware, UTC)."""
    return datetime.fromisoformat(start_text().replace("Z", "+00:00"))


def devstack_args() -> list[str]:
    """What a test passes to `python -m devstack` so the stack starts on the pinned clock."""
    return ["--clock-start", start_text()]


def main() -> int:
    """`python -m tests.clock` (the last step of `make test`): the tests marked `clock` at every
    instant of CLOCK_INSTANTS, each run on stacks started there. Stops at the first red instant;
    a run that collects nothing is red too (pytest's exit code 5)."""
    import subprocess
    import sys

    for name, instant in CLOCK_INSTANTS.items():
        print(f"\nclock-sensitive tests at {instant} ({name})", flush=True)
        done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "clock", "-p", "no:cacheprovider"],
                              env=os.environ | {ENV: instant}, check=False)
        if done.returncode != 0:
            why = "collected no tests" if done.returncode == 5 else f"failed (exit code {done.returncode})"
            print(f"clock-sensitive tests at {instant} ({name}) {why}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
