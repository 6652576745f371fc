"""How much of an invocation is left: work that may not finish before Lambda's timeout is not started.

Lambda stops a function at its timeout wherever it is: a record half handled, a survey claimed and
not sent. So a handler that loops (a queue batch, the tick's jobs) asks its budget before each item
and stops while one more item still fits: what it did not start stays on its queue (reported as a
batch item failure, delivered again) or due (the next tick, a minute later, picks it up).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.observability import count, logger

# The longest one item may take: a carrier call (5 s timeout) and its DynamoDB writes, twice.
DEFAULT_RESERVE_MS = 12_000


@dataclass(frozen=True)
class Budget:
    remaining_ms: Callable[[], int]
    reserve_ms: int = DEFAULT_RESERVE_MS

    def exhausted(self) -> bool:
        """True when one more item might not finish before the invocation's timeout."""
        return self.remaining_ms() < self.reserve_ms

    def allows_wait(self, seconds: float) -> bool:
        """Whether one more item still fits after waiting `seconds` first (a paced send)."""
        return self.remaining_ms() - seconds * 1000 >= self.reserve_ms

    @classmethod
    def of(cls, context: Any, reserve_ms: int = DEFAULT_RESERVE_MS) -> Budget:
        """The budget of a Lambda invocation (its context's get_remaining_time_in_millis); without a
        context (a test calling the handler directly), unlimited."""
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining, reserve_ms) if callable(remaining) else UNLIMITED


UNLIMITED = Budget(lambda: 2**31, 0)


def schedule_cut_short(job: str) -> None:
    """A schedule job stopped before its batch was done: the rest is still due, for the next tick."""
    count("ScheduleCutShort", job=job)
    logger.warning("schedule job cut short by the invocation's time", extra={"job": job})
