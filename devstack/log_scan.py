"""What must never be in koe's logs, looked for in the logs a local run wrote (the end-to-end tests'
stacks, the burst benchmark): a full phone number, an email address, a LINE user id, a bearer or survey
token, a secret of the stack's, or a message a customer sent. LOCAL ONLY.

The developer's banner (`python -m devstack` prints demo commands with a fictional number, address and
the local API key, up to "Ctrl-C stops everything") is the terminal talking to its user, not a log:
it is left out. Everything after it — koe's JSON lines (what CloudWatch would hold), the servers'
request lines, the libraries' log records — is read.

A finding names the kind, the file and line, and the value masked: the scan itself leaks nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

BANNER_END = "Ctrl-C stops everything"


@contextlib.contextmanager
def log_to(path: Path, mode: str = "w") -> Iterator[None]:
    """While inside, everything this process writes to stdout and stderr, and everything the
    processes it starts write (the stack's function workers, devstack/workers.py, inherit the file
    descriptors), goes to `path`: the log a run's scan reads. The screen gets them back after."""
    sys.stdout.flush()
    sys.stderr.flush()
    screen = os.dup(1), os.dup(2)
    streams = sys.stdout, sys.stderr
    with path.open(mode) as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        sys.stdout = sys.stderr = sink
        try:
            yield
        finally:
            sink.flush()
            sys.stdout, sys.stderr = streams
            for fd, saved in ((1, screen[0]), (2, screen[1])):
                os.dup2(saved, fd)
                os.close(saved)
PATTERNS = {
    # E.164 as koe stores numbers; a masked one (+1******0123) has stars and never matches.
    "phone number": re.compile(r"(?<![\w*])\+\d{8,15}\b"),
    "email address": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"),
    # A JWT (the CX bearer tokens, Cognito's) and the signed tokens of survey and unsubscribe links.
    "bearer token": re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    "link token": re.compile(r"/[su]/[A-Za-z0-9_~.-]{20,}"),
    # A LINE user id (U and 32 hex): personal data; logs name a LINE user by a hash prefix instead.
    "LINE user id": re.compile(r"(?<![0-9A-Za-z])U[0-9a-f]{32}(?![0-9a-f])"),
}
MIN_SECRET_CHARS = 8
MIN_MESSAGE_CHARS = 6      # "2", "STOP", "はい" are everywhere; a sentence someone wrote is not


@dataclass(frozen=True)
class Finding:
    kind: str
    where: str            # file:line
    masked: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.masked}"


def scan(paths: Iterable[Path], secrets: Iterable[str] = (), messages: Iterable[str] = ()) -> list[Finding]:
    """Every finding in the files (missing files are skipped): the patterns, the literal `secrets`
    and the `messages` customers sent."""
    literals = [("secret", s) for s in set(secrets) if s and len(s) >= MIN_SECRET_CHARS]
    literals += [("message body", m) for m in set(messages) if m and len(m.strip()) >= MIN_MESSAGE_CHARS]
    found: list[Finding] = []
    for path in paths:
        if not path.exists():
            continue
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        start = next((i + 1 for i, line in enumerate(lines) if BANNER_END in line), 0)
        for number, line in enumerate(lines[start:], start=start + 1):
            where = f"{path.name}:{number}"
            for kind, pattern in PATTERNS.items():
                found += [Finding(kind, where, mask(m.group(0))) for m in pattern.finditer(line)]
            found += [Finding(kind, where, mask(value)) for kind, value in literals if value in line]
    return found


def mask(value: str) -> str:
    """Enough to find it again in the file, not enough to be it."""
    return f"{value[:3]}…({len(value)} chars)" if len(value) > 6 else "…"
