"""Files only their owner may read: the local stack's secrets (the CX token secret, the ready file
with the API key, the token secret and the contact hash key in it)."""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE = 0o600


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by its owner only, all at once: it goes to a new
    file created 0600 (never readable by others, whatever the umask, not even while it is written),
    which then replaces `path`, so a reader sees the old file or the whole new one."""
    partial = path.with_name(path.name + ".partial")
    partial.unlink(missing_ok=True)         # left by a run that died mid-write: may have other modes
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, path)
