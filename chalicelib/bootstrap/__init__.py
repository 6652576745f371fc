"""The one place that builds the real things and wires them into the use cases.

- `Adapters` (`bootstrap/adapters.py`), the edge: AWS clients, stores, queues, Twilio, SES,
  templates and secrets, each built on first use and kept for the life of the process.
- One wiring per Lambda function (`bootstrap/functions.py`), composed of its use cases' wirings
  (`bootstrap/use_cases.py`): each takes from the edge only the pieces it declares, and builds the
  domain rules it decides with from settings (`bootstrap/rules.py`). app.py's handlers each ask for
  their own function's: `wired(Dispatch)`.
- `Components`, the edge plus every function's wiring over it: what a process holds. In AWS a
  process runs one function and builds that function's wiring only; the local stack runs every
  function in one process. The functional tests hand fakes in here: `Components(settings, **fakes)`
  then `install(...)`; each wiring built over it takes the fakes.

Adding a channel: its sender in `Adapters.senders` (one line), beside its adapter and its templates.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar, cast

from chalicelib import settings as settings_module
from chalicelib.bootstrap.adapters import Adapters, utc_now
from chalicelib.bootstrap.wiring import OutOfReach, Wiring
from chalicelib.settings import Settings

__all__ = ["Adapters", "Components", "OutOfReach", "Wiring", "components", "install", "utc_now", "wired"]

W = TypeVar("W", bound=Wiring)


class Components(Adapters):
    """The edge, and each function's wiring over it (built when first asked for)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] = utc_now, **overrides: Any) -> None:
        super().__init__(settings, clock, **overrides)
        self._wirings: dict[type[Wiring], Wiring] = {}

    def wiring(self, kind: type[W]) -> W:
        if kind not in self._wirings:
            self._wirings[kind] = kind(self)
        return cast(W, self._wirings[kind])


_components: Components | None = None


def components() -> Components:
    """This process's components, built on first use from the environment."""
    global _components
    if _components is None:
        _components = Components(settings_module.current())
    else:      # a new version of the configuration document (chalicelib/config_document.py): rebuilt on it
        fresh = settings_module.refreshed(_components.settings)
        if fresh is not _components.settings:
            _components = Components(fresh, clock=_components.clock)
    return _components


def install(replacement: Components | None) -> Components | None:
    """Use `replacement` as this process's components (None: build from the environment again on
    next use); returns the previous ones. For tests that drive app.py in-process."""
    global _components
    previous, _components = _components, replacement
    return previous


def wired(kind: type[W]) -> W:
    """This process's wiring of one function (`bootstrap/functions.py`)."""
    return components().wiring(kind)
