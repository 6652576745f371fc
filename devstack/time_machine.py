"""The local stack's clock, and the time machine that moves it forward (local only, never deployed).

koe's services take the current time from `Components.clock`. The local stack builds its components
with a `StackClock` (the wall clock plus an offset that only grows) and installs them
(`bootstrap.install`); AWS's functions keep `bootstrap.utc_now`, so production code is unchanged.
`TimeMachine.advance` moves the offset forward and fires the schedule once, so a survey deferred to
09:00 in Tokyo is released in front of you instead of at 09:00. `python -m devstack advance --hours N`
calls it through the carrier (`POST /clock/advance`, loopback only).

One move goes back, for the seed only (`python -m devstack seed`, devstack/seed.py): `rewind_to`
(`POST /clock/rewind` on the carrier, loopback only) sets the clock to a time in the past, once, at
the start, so a month of events can be walked through day by day with `advance` until the clock is
back at the wall clock. Caveat: what the stack already holds stays as it is — surveys, answers,
cases and contact histories newer than the rewound time are "in the future" for a while (a contact
surveyed yesterday is within its cooldown; a bearer token minted before is not valid yet): seed a
fresh stack (`make run IN_MEMORY=1`, or a new DB_PATH) for data that is true from the first day.

What follows the stack's clock: everything koe decides (send windows and holidays, cooldowns and
other fatigue rules, the age of events, "completed_at is in the future", conversation windows, the
day scores are counted in). What does not: the carrier's and moto's own timestamps, DynamoDB's TTL,
Powertools' idempotency expiry, and the runner's tick interval (real seconds). The offset lives in
memory: a restarted stack starts on the wall clock again.

`--clock-start ISO` pins the base clock instead of the wall clock (`pinned_at`): the stack starts at
that instant and runs forward in real seconds. The e2e and browser tests, the seed test and the
benchmarks start their stacks this way, so what they see never depends on today's date or hour.
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

MAX_STEP = timedelta(days=366)      # one move at most: a typo should not throw the stack into 2099


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Pinned:
    """A base clock that read `start` at monotonic time `began` and runs on at the wall clock's pace.
    Monotonic time is the machine's, so a function's worker process (devstack/workers.py) reads the
    same instant from a copy of it."""
    start: datetime
    began: float

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self.began)


def pinned_at(start: datetime) -> Callable[[], datetime]:
    """A base clock that reads `start` when made and then runs at the wall clock's pace (monotonic
    time): a stack started with `--clock-start` (tests, benchmarks, demos) decides exactly as it
    would at that instant, whatever today's date and hour are."""
    if start.tzinfo is None:
        raise ValueError("give the clock's start with its offset, e.g. 2026-11-18T01:30:00Z")
    return Pinned(start, time.monotonic())


@dataclass(frozen=True)
class SharedClock:
    """The stack's clock as a function's worker process reads it: the same base clock, and the
    offset the time machine moves, in memory shared with the stack's process."""
    wall: Callable[[], datetime]
    offset_s: Any           # multiprocessing RawValue("d"): seconds, written by the stack's process only

    def __call__(self) -> datetime:
        return self.wall() + timedelta(seconds=self.offset_s.value)


class StackClock:
    """`clock()` is the wall clock plus an offset; the offset only grows (time never goes back), but
    for `rewind_to`, the seed's one move back (see the module's docstring)."""

    def __init__(self, wall: Callable[[], datetime] = utc_now) -> None:
        # `wall` is the base clock: the wall clock, or `pinned_at(start)` for a stack started at a
        # given instant (`python -m devstack --clock-start`); "back to the wall clock" means back to it.
        self._wall = wall
        self._offset = timedelta(0)
        self._lock = threading.Lock()
        self._shared_offset: Any = None      # the offset in shared memory, once a worker reads it

    def shared(self) -> SharedClock:
        """This clock for other processes (passed to them when they start): every later move of
        this clock is seen there too. The base clock must be picklable (`utc_now`, `pinned_at`)."""
        with self._lock:
            if self._shared_offset is None:
                self._shared_offset = multiprocessing.get_context("spawn").RawValue(
                    "d", self._offset.total_seconds())
            return SharedClock(self._wall, self._shared_offset)

    def _moved(self) -> datetime:
        """After the offset changed (lock held): publish it to the workers; returns the new now."""
        if self._shared_offset is not None:
            self._shared_offset.value = self._offset.total_seconds()
        return self._wall() + self._offset

    def __call__(self) -> datetime:
        with self._lock:
            return self._wall() + self._offset

    @property
    def offset(self) -> timedelta:
        with self._lock:
            return self._offset

    def wall(self) -> datetime:
        return self._wall()

    def advance(self, by: timedelta) -> datetime:
        """Move forward by `by`; returns the new now."""
        if by < timedelta(0):
            raise ValueError("the stack's clock only moves forward")
        if by > MAX_STEP:
            raise ValueError(f"at most {MAX_STEP.days} days at a time")
        with self._lock:
            self._offset += by
            return self._moved()

    def advance_to(self, when: datetime) -> datetime:
        """Move forward to `when` (aware); a time already passed leaves the clock where it is."""
        if when.tzinfo is None:
            raise ValueError("give the time with its offset, e.g. 2026-11-24T00:00:00Z")
        with self._lock:
            ahead = when - (self._wall() + self._offset)
            if ahead > MAX_STEP:
                raise ValueError(f"at most {MAX_STEP.days} days at a time")
            if ahead > timedelta(0):
                self._offset += ahead
            return self._moved()

    def rewind_to(self, when: datetime) -> datetime:
        """LOCAL ONLY, for the seed: set the clock back to `when` (aware, in the past, at most
        MAX_STEP back). Data newer than `when` stays as it is (the module's docstring)."""
        if when.tzinfo is None:
            raise ValueError("give the time with its offset, e.g. 2026-10-22T00:00:00Z")
        with self._lock:
            behind = (self._wall() + self._offset) - when
            if behind <= timedelta(0):
                raise ValueError("a rewind goes back: use advance to move forward")
            if behind > MAX_STEP:
                raise ValueError(f"at most {MAX_STEP.days} days back")
            self._offset -= behind
            return self._moved()


class TimeMachine:
    """The stack's clock and the schedule it fires after each move."""

    def __init__(self, clock: StackClock, fire: Callable[[], Any]) -> None:
        self.clock, self._fire = clock, fire

    def now(self) -> dict[str, Any]:
        offset = self.clock.offset
        return {"now": iso(self.clock()), "wall_clock": iso(self.clock.wall()),
                "offset_hours": round(offset.total_seconds() / 3600, 4)}

    def rewind(self, to: datetime) -> dict[str, Any]:
        """The seed's one move back (StackClock.rewind_to); the schedule is not fired: nothing is
        due in the past that was not due already."""
        before = self.clock()
        after = self.clock.rewind_to(to)
        return {**self.now(), "moved_hours": round((after - before).total_seconds() / 3600, 4)}

    def advance(self, by: timedelta | None = None, to: datetime | None = None) -> dict[str, Any]:
        """Move the clock (by a duration, or to a time), then fire the schedule once: what `tick`
        answered (released, closed...), or None when it failed (the stack's log says why)."""
        before = self.clock()
        if by is not None and to is None:
            after = self.clock.advance(by)
        elif to is not None and by is None:
            after = self.clock.advance_to(to)
        else:
            raise ValueError("give either hours or a time to move to")
        tick = self._fire()
        return {**self.now(), "moved_hours": round((after - before).total_seconds() / 3600, 4),
                "tick": tick if isinstance(tick, dict) else None}


def iso(moment: datetime) -> str:
    """UTC, to the second, with a Z: what `scheduled` prints and `advance --to` takes back."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An ISO 8601 time with its offset (`Z` allowed)."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise ValueError(f"not an ISO 8601 time: {text!r}") from exc
    if moment.tzinfo is None:
        raise ValueError(f"give the time with its offset, e.g. 2026-11-24T00:00:00Z, not {text!r}")
    return moment


def read_rewind(fields: Mapping[str, Any]) -> datetime:
    """`{"to": "ISO time"}` (a request to POST /clock/rewind) -> the time to go back to."""
    to = fields.get("to")
    if set(fields) != {"to"} or not isinstance(to, str):
        raise ValueError('send {"to": "2026-10-22T00:00:00Z"}: the time to go back to')
    return parse_time(to)


def read_move(fields: Mapping[str, Any]) -> tuple[timedelta | None, datetime | None]:
    """`{"hours": N}` or `{"to": "ISO time"}` (a request to POST /clock/advance) -> (by, to)."""
    hours, to = fields.get("hours"), fields.get("to")
    if (hours is None) == (to is None):
        raise ValueError('send {"hours": N} or {"to": "2026-11-24T00:00:00Z"}')
    if hours is not None:
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours != hours:
            raise ValueError("hours must be a number")
        if hours < 0:
            raise ValueError("the stack's clock only moves forward")
        if hours > MAX_STEP.total_seconds() / 3600:
            raise ValueError(f"at most {MAX_STEP.days} days at a time")
        return timedelta(hours=hours), None
    if not isinstance(to, str):
        raise ValueError("to must be an ISO 8601 time")
    return None, parse_time(to)
