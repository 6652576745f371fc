"""Each function's invocations run in worker processes of its own, as Lambda's execution
environments (devstack/workers.py): reused while warm, never shared by concurrent invocations,
killed at the timeout, gone after a crash."""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devstack.faults import Crash
from devstack.lambda_events import LambdaContext
from devstack.time_machine import StackClock, pinned_at
from devstack.workers import FunctionWorkers, InvocationError, InvocationTimedOut, WorkerSpec

ROOT = str(Path(__file__).resolve().parents[2])
Pools = Callable[[str], FunctionWorkers]
START = datetime(2026, 11, 18, 1, 30, tzinfo=UTC)


def workers(function: str) -> FunctionWorkers:
    return FunctionWorkers(WorkerSpec(function, "koe-test-", StackClock(pinned_at(START)).shared(), ROOT,
                                      module="tests.integration.worker_handlers", koe=False))


def context(timeout_s: float = 30.0) -> LambdaContext:
    return LambdaContext(function_name="koe-test-remember", region="us-east-1", timeout_s=timeout_s)


@pytest.fixture
def pools() -> Iterator[Pools]:
    """Worker pools of the handlers a test names, every one closed when it ends."""
    opened: list[FunctionWorkers] = []

    def pool(function: str) -> FunctionWorkers:
        opened.append(workers(function))
        return opened[-1]

    yield pool
    for each in opened:
        each.close()


@pytest.fixture
def remember(pools: Pools) -> FunctionWorkers:
    return pools("remember")


def test_an_invocation_runs_in_a_worker_that_stays_warm(remember: FunctionWorkers) -> None:
    first = remember({"value": 1}, context())
    second = remember({"value": 2}, context())
    assert first["pid"] != os.getpid() and first["function"] == "koe-test-remember"
    assert second["pid"] == first["pid"] and second["seen"] == [1, 2]      # warm: its memory kept
    assert remember.cold_starts == 1


def test_concurrent_invocations_share_no_memory(remember: FunctionWorkers) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(lambda value: remember({"value": value, "seconds": 1.0}, context()), ["a", "b"]))
    assert answers[0]["pid"] != answers[1]["pid"]
    assert [a["seen"] for a in answers] == [["a"], ["b"]]      # neither saw the other's call


def test_two_invocations_at_once_get_two_workers(pools: Pools) -> None:
    pool = pools("hold")
    with ThreadPoolExecutor(max_workers=2) as threads:
        answers = list(threads.map(lambda _: pool({"seconds": 1.0}, context()), range(2)))
    assert answers[0]["pid"] != answers[1]["pid"]
    assert pool.cold_starts == 2 and len(pool.pids()) == 2


def test_a_crash_ends_the_worker_and_the_next_invocation_starts_a_new_one(pools: Pools) -> None:
    pool = pools("crash")
    pool.warm()
    [pid] = pool.pids()
    with pytest.raises(Crash) as crashed:
        pool({}, context())
    assert crashed.value.point == "twilio" and crashed.value.function == "crash"
    assert pool.pids() == []
    with pytest.raises(Crash):
        pool({}, context())
    assert pool.cold_starts == 2
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)         # the crashed worker's process is gone


def test_an_error_is_a_function_error_and_the_worker_stays(pools: Pools) -> None:
    pool = pools("fail")
    with pytest.raises(InvocationError, match="fail raised ValueError: no such survey"):
        pool({}, context())
    with pytest.raises(InvocationError):
        pool({}, context())
    assert pool.cold_starts == 1


def test_an_invocation_past_its_timeout_is_killed_with_its_worker(pools: Pools) -> None:
    pool = pools("hold")
    pool.warm()
    with pytest.raises(InvocationTimedOut, match="timed out after 1 s"):
        pool({"seconds": 30}, context(timeout_s=1.0))
    assert pool.pids() == []
    assert pool({"seconds": 0}, context())["pid"] > 0      # a new worker serves the next one


def test_close_retires_every_worker(remember: FunctionWorkers) -> None:
    remember({"value": 1}, context())
    [pid] = remember.pids()
    remember.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _read_clock(clock, answers) -> None:       # in a spawned process
    answers.put(clock().isoformat())


def test_the_shared_clock_moves_in_another_process_when_the_stack_moves_it() -> None:
    clock = StackClock(pinned_at(START))
    shared = clock.shared()
    clock.advance(timedelta(hours=10))
    spawn = multiprocessing.get_context("spawn")
    answers = spawn.Queue()
    reader = spawn.Process(target=_read_clock, args=(shared, answers))
    reader.start()
    seen = datetime.fromisoformat(answers.get(timeout=60))
    reader.join(10)
    assert timedelta(hours=10) <= seen - START < timedelta(hours=10, minutes=1)


def test_a_worker_stopped_by_ctrl_c_while_starting_is_told_apart_from_one_that_failed() -> None:
    from devstack.workers import WorkerDied

    assert WorkerDied("dispatch: its worker ended", -signal.SIGINT).signalled
    assert WorkerDied("dispatch: its worker ended", -signal.SIGTERM).signalled
    assert not WorkerDied("dispatch: its worker ended", 1).signalled
    assert not WorkerDied("dispatch: a worker did not start within 60 s").signalled
