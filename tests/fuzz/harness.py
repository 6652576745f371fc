"""How much the fuzz tests generate, and the tally of what they ran.

Each fuzz test names its target (replies, events, forms, tokens, exports) and its share of the run's
volume, KOE_FUZZ_EXAMPLES: a test with share 0.25 runs a quarter of that many examples. The shares
are set so that, at KOE_FUZZ_EXAMPLES=100000 (`make fuzz`), the reply parsers see 100,000 replies and
the event validation 10,000 events (docs/reliability.md). Without the variable the run is the short
form of the normal suite: SHORT_VOLUME, derandomized, so every CI run tries the same examples.

The profile is applied per test (`fuzz`), never loaded for the whole session: the other property
tests of the suite keep their own number of examples however the fuzz tests are run.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, settings

VOLUME_VARIABLE = "KOE_FUZZ_EXAMPLES"
SHORT_VOLUME = 2000          # the short form: all of tests/fuzz in about ten seconds on 2 cores
MIN_EXAMPLES = 20            # a test's floor in the short form, however small its share


def _volume() -> int:
    raw = os.environ.get(VOLUME_VARIABLE, "").strip()
    if not raw:
        return SHORT_VOLUME
    if not raw.isdigit() or int(raw) < 1:
        raise pytest.UsageError(f"{VOLUME_VARIABLE} is a whole number of examples, got {raw!r}")
    return int(raw)


VOLUME = _volume()
FULL = bool(os.environ.get(VOLUME_VARIABLE, "").strip())

# The full form draws new examples on every run (a failure prints the blob that replays it, and
# `--hypothesis-seed` repeats a run); the short form always draws the same ones.
settings.register_profile(
    "fuzz", parent=settings.get_profile("koe"), deadline=None, derandomize=not FULL, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example,
                           HealthCheck.filter_too_much])
PROFILE = settings.get_profile("fuzz")

# Per target: examples run (every call of the test body, replays and shrinks included), tests,
# seconds in the tests' call phase, failed tests. conftest.py fills in all but the examples.
examples: Counter[str] = Counter()
tests: Counter[str] = Counter()
seconds: Counter[str] = Counter()
failed: Counter[str] = Counter()

Test = TypeVar("Test", bound=Callable[..., Any])


def examples_for(share: float) -> int:
    return max(MIN_EXAMPLES, round(VOLUME * share))


def fuzz(target: str, share: float) -> Callable[[Test], Test]:
    """A @given test run under the fuzz profile with its share of the volume, its examples counted
    under `target`. Put it above @given."""
    def apply(test: Test) -> Test:
        test = settings(PROFILE, max_examples=examples_for(share))(test)
        inner = test.hypothesis.inner_test          # type: ignore[attr-defined]

        @functools.wraps(inner)
        def counted(*args: Any, **kwargs: Any) -> Any:
            examples[target] += 1
            return inner(*args, **kwargs)

        test.hypothesis.inner_test = counted        # type: ignore[attr-defined]
        return pytest.mark.fuzz(target=target)(test)
    return apply
