"""What a wiring may reach at the edge. A wiring (`bootstrap/use_cases.py`, composed per Lambda function
in `bootstrap/functions.py`) builds its use cases' dependencies from the real things `Adapters` builds
(`bootstrap/adapters.py`), and names each piece it takes from there in `USES`. It sees the edge
through `Reach`, which hands out only those pieces: a wiring that asks for another one fails at once
(`OutOfReach`), in the tests as in AWS, instead of building a client its function's role may not use.

A function's reach is the union of its use cases' `USES`; tests/unit/test_wiring.py holds every
function's reach to its grants in `resources.FUNCTIONS`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, cast
from zoneinfo import ZoneInfo

from chalicelib.settings import Settings

if TYPE_CHECKING:
    from chalicelib.bootstrap.adapters import Adapters

# Not pieces: every wiring reads its settings and clock.
ALWAYS = frozenset({"settings", "clock"})


class OutOfReach(LookupError):
    """A wiring asked the edge for a piece its function does not declare (`Wiring.USES`)."""


class Reach:
    """The edge as one wiring sees it: the pieces of `names`, built (and kept) by the edge."""

    def __init__(self, edge: Adapters, names: frozenset[str], wiring: str) -> None:
        self._edge, self._names, self._wiring = edge, names | ALWAYS, wiring

    def __getattr__(self, name: str) -> Any:
        if name not in self._names:
            raise OutOfReach(f"{self._wiring} does not use the edge's {name!r}: add it to the USES of the "
                             "use case that needs it (and its grants to resources.FUNCTIONS)")
        return getattr(self._edge, name)


class Wiring:
    """One function's composition root: its use cases' dependencies, each built on first use and kept
    for the life of the process (a warm Lambda reuses them)."""

    # The edge's pieces this class's own code takes (tests/unit/test_wiring.py reads its source).
    USES: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, edge: Adapters) -> None:
        self.settings: Settings = edge.settings
        self.clock: Callable[[], datetime] = edge.clock
        self.edge = cast("Adapters", Reach(edge, self.reach(), type(self).__name__))

    @classmethod
    def reach(cls) -> frozenset[str]:
        """Every piece of the edge this wiring may take: its use cases' USES."""
        return frozenset().union(*(k.__dict__.get("USES", frozenset()) for k in cls.__mro__))

    def today(self) -> date:
        """Today in the reporting time zone: the day scores are counted in."""
        return self.clock().astimezone(ZoneInfo(self.settings.reporting_timezone)).date()
