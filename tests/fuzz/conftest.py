"""The fuzz tests' summary: per target, the examples run, the seconds and the failed tests, after
the run (pytest's terminal summary). Volumes and the profile: harness.py."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from tests.fuzz import harness


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("fuzz")
    if marker is None or report.when != "call":
        return
    target = marker.kwargs["target"]
    harness.tests[target] += 1
    harness.seconds[target] += report.duration
    harness.failed[target] += report.failed


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not harness.tests:
        return
    form = (f"{harness.VOLUME_VARIABLE}={harness.VOLUME}" if harness.FULL
            else f"short form ({harness.VOLUME}, derandomized)")
    write = terminalreporter.write_line
    terminalreporter.write_sep("-", f"fuzzing: {form}")
    write(f"{'target':<10}{'tests':>7}{'examples':>11}{'seconds':>10}{'failed':>8}")
    for target in sorted(harness.tests):
        write(f"{target:<10}{harness.tests[target]:>7}{harness.examples[target]:>11,}"
              f"{harness.seconds[target]:>10.1f}{harness.failed[target]:>8}")
    write(f"{'all':<10}{sum(harness.tests.values()):>7}{sum(harness.examples.values()):>11,}"
          f"{sum(harness.seconds.values()):>10.1f}{sum(harness.failed.values()):>8}")
