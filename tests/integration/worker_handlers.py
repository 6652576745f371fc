"""Handlers a test runs in worker processes (tests/integration/test_workers.py): each shows one thing
a Lambda execution environment does or does not share."""

from __future__ import annotations

import os
import time
from typing import Any

from devstack.faults import Crash

_calls: list[Any] = []          # module state: kept by one warm worker, never seen by another


def remember(event: dict[str, Any], context: Any) -> dict[str, Any]:
    _calls.append(event["value"])
    time.sleep(event.get("seconds", 0))
    return {"pid": os.getpid(), "seen": list(_calls), "function": context.function_name}


def crash(event: dict[str, Any], context: Any) -> None:
    raise Crash("twilio", "crash")


def fail(event: dict[str, Any], context: Any) -> None:
    raise ValueError("no such survey")


def hold(event: dict[str, Any], context: Any) -> dict[str, int]:
    time.sleep(event["seconds"])
    return {"pid": os.getpid()}
