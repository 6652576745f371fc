"""Years of their own for contract tests that share a table and read a whole period.

A random year per test collides now and then (about one run in eight with 15 tests over 800 years: the
insight store's contract read another test's comment that way). One counter per test process hands out
each year once; the tests run in one process.
"""

from __future__ import annotations

import itertools
import threading

_FIRST = 2100
_LAST = 9000                      # datetime's year stops at 9999; each world may use the next one too
_years = itertools.count(_FIRST, 2)
_lock = threading.Lock()


def a_year_of_its_own() -> int:
    """A year no other caller in this process has been given (nor the year after it)."""
    with _lock:
        year = next(_years)
    if year > _LAST:
        raise RuntimeError(f"more than {(_LAST - _FIRST) // 2} worlds in one test process")
    return year
