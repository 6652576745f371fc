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
# How many instants run at once (2 cores: the stacks of two runs mostly wait on each other's I/O).
PARALLEL = int(os.environ.get("KOE_CLOCK_PARALLEL", "2"))
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


def clock_sensitive_files() -> list[str]:
    """The test files that mark tests `clock` (read as text: collecting the whole suite for a marker costs
    seconds at every instant)."""
    from pathlib import Path

    root = Path(__file__).resolve().parent
    return sorted(str(path.relative_to(root.parent)) for path in root.rglob("test_*.py")
                  if "mark.clock" in path.read_text(encoding="utf-8"))


def main() -> int:
    """`python -m tests.clock` (the last step of `make test`): the tests marked `clock` at every
    instant of CLOCK_INSTANTS, each run on stacks started there, PARALLEL instants at a time (each its
    own stacks on free ports). Red when any instant is red; a run that collects nothing is red too
    (pytest's exit code 5). Each instant's output is printed whole when it ends."""
    import subprocess
    import sys
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    files = clock_sensitive_files()
    if not files:
        print("no test is marked clock", file=sys.stderr)
        return 1

    def run(name: str, instant: str) -> tuple[str, str, int, str]:
        with tempfile.TemporaryFile("w+") as output:
            done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-m", "clock", "-p", "no:cacheprovider",
                                   *files], env=os.environ | {ENV: instant}, stdout=output, stderr=subprocess.STDOUT,
                                  check=False)
            output.seek(0)
            return name, instant, done.returncode, output.read()

    red = []
    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        for name, instant, code, output in pool.map(lambda item: run(*item), CLOCK_INSTANTS.items()):
            print(f"\nclock-sensitive tests at {instant} ({name})\n{output}", end="", flush=True)
            if code != 0:
                why = "collected no tests" if code == 5 else f"failed (exit code {code})"
                print(f"clock-sensitive tests at {instant} ({name}) {why}", file=sys.stderr, flush=True)
                red.append(name)
    return 1 if red else 0


if __name__ == "__main__":
    raise SystemExit(main())
