"""Each function's invocations in worker processes of its own, as Lambda runs them (local only).

In AWS every invocation runs in an execution environment of its function: a process that imported
the function's code once (its init), serves one invocation at a time, is reused while warm, and is
never shared with another function or with a concurrent invocation. Nothing in memory (koe's
components and their caches, SDK clients, Powertools' idempotency state, module globals) is shared
between two invocations running at the same time. The runner (devstack/runner.py) invokes the event
handlers through `FunctionWorkers`, so the local stack behaves the same way, and koe's code runs on
every core of the machine instead of one interpreter's.

A worker is a `spawn`ed Python process (never forked from the stack's threads): it imports `app`
with the stack's settings (inherited environment), installs the local IAM and faults
(devstack/iam.py, devstack/faults.py) as the stack's process does, and builds koe's components on
the stack's clock (`StackClock.shared`: the time machine's moves reach it). Then it serves
invocations from a pipe, one at a time.

What Lambda does, the workers do:
- a worker is started when no warm one is free (a cold start), and kept warm after;
- an invocation past the function's timeout is killed with its worker (`InvocationTimedOut`);
- `crash:<point>` (devstack/faults.py) ends the worker's process right after the call it names:
  the next invocation starts a new one, with nothing of the old one's memory;
- a worker that dies otherwise is reported as `WorkerDied`.
The faults a worker meets are counted in the stack's process (`faults.absorb`), against the
invocation the stack numbered (devstack/iam.py), so a run's figures cover every process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from devstack import faults, iam
from devstack.faults import Crash
from devstack.lambda_events import LambdaContext

log = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")
READY_TIMEOUT_S = 120.0       # a cold start: importing app and building the components
CRASH_EXIT = 70               # the exit code of a worker killed by an injected crash


class InvocationError(Exception):
    """The handler raised in its worker: Lambda's "function error" (the batch is retried)."""

    def __init__(self, function: str, kind: str, message: str):
        self.function, self.kind = function, kind
        super().__init__(f"{function} raised {kind}: {message}")


class InvocationTimedOut(Exception):
    """The invocation ran past the function's timeout: its worker was killed, as Lambda does."""


class WorkerDied(Exception):
    """A worker process ended without answering (not an injected crash): a Lambda runtime exit."""

    def __init__(self, message: str, exitcode: int | None = None) -> None:
        super().__init__(message)
        self.exitcode = exitcode

    @property
    def signalled(self) -> bool:
        """Ended by Ctrl-C or a stop (SIGINT, SIGTERM) before it could ignore them: the stack is stopping."""
        return self.exitcode in (-signal.SIGINT, -signal.SIGTERM)


@dataclass(frozen=True)
class WorkerSpec:
    """What a worker needs to become one of `function`'s execution environments."""
    function: str                 # the handler's name in app.py (resources.FUNCTIONS)
    prefix: str                   # koe's resource prefix (the local IAM reads resources by it)
    clock: Callable[[], Any]      # the stack's clock (StackClock.shared())
    repo_root: str
    log_level: int = logging.INFO
    module: str = "app"           # where the handler is (a test's own module: koe=False)
    attribute: str | None = None  # the handler's name in `module`, if not `function` (the API's: `app`)
    koe: bool = True              # build koe's components on the stack's clock at init


def _serve(spec: WorkerSpec, conn: Connection) -> None:
    """The worker process: init once, then one invocation at a time until the pipe closes."""
    # Ctrl-C reaches the whole process group: the stack's process drains the invocations in
    # flight and then retires its workers; a worker must not die under an invocation first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=spec.log_level,
                        format=f"%(asctime)s %(levelname)s %(name)s[{spec.function}]: %(message)s")
    if spec.repo_root not in sys.path:
        sys.path.insert(0, spec.repo_root)
    import importlib

    app = importlib.import_module(spec.module)
    iam.install(spec.prefix)
    if os.environ.get(faults.ENV):
        # Each worker draws its own faults, from a seed of its own (the run's seed and its pid): two
        # workers never draw the same sequence, and a run is repeatable in its shares, not call for call.
        seed = int(os.environ.get(faults.SEED_ENV, "0")) * 1000 + os.getpid() % 1000
        faults.install(faults.Faults.parse(os.environ[faults.ENV], seed))
    if spec.koe:
        bootstrap = importlib.import_module("chalicelib.bootstrap")
        settings = importlib.import_module("chalicelib.settings")
        bootstrap.install(bootstrap.Components(settings.current(), clock=spec.clock))
    handler = getattr(app, spec.attribute or spec.function)
    conn.send(("ready", None, ({}, {})))
    while True:
        try:
            event, context = conn.recv()
        except EOFError:
            return          # the stack closed the pipe: this environment is retired
        before = faults.met()
        outcome: tuple[str, Any]
        try:
            with iam.watching_visibility() as visibility, iam.acting_as(spec.function):
                result = handler(event, context)
        except Crash as crash:
            _reply(conn, ("crash", crash.point), before)
            os._exit(CRASH_EXIT)        # as the process was killed: nothing after this point runs
        except Exception as exc:        # a function error: its traceback goes to this worker's log
            log.exception("%s raised", spec.function)
            outcome = ("error", (type(exc).__name__, str(exc)[:500]))
        else:
            outcome = ("ok", (result, sorted(visibility)))
        if not _reply(conn, outcome, before):
            return


def _reply(conn: Connection, outcome: tuple[str, Any], before: tuple[dict[str, int], dict[str, int]]) -> bool:
    """Send the invocation's outcome and the faults and races it met; False when the stack is gone."""
    after = faults.met()
    try:
        conn.send((*outcome, tuple(_delta(b, a) for b, a in zip(before, after, strict=True))))
    except (BrokenPipeError, ConnectionResetError):
        return False
    return True


def _delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {name: n - before.get(name, 0) for name, n in after.items() if n - before.get(name, 0)}


class Worker:
    """The stack's end of one worker process."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.conn, child = _SPAWN.Pipe()
        self.process = _SPAWN.Process(target=_serve, args=(spec, child), daemon=True,
                                      name=f"koe-{spec.function}")
        self.process.start()
        child.close()
        started = time.monotonic()
        if not self.conn.poll(READY_TIMEOUT_S):
            self.kill()
            raise WorkerDied(f"{spec.function}: a worker did not start within {READY_TIMEOUT_S:.0f} s")
        self._answer()          # "ready" (or the error that kept it from starting)
        self.init_s = time.monotonic() - started

    @property
    def alive(self) -> bool:
        return self.process.is_alive()

    def invoke(self, event: Any, context: LambdaContext) -> Any:
        self.conn.send((event, context))
        if not self.conn.poll(context.timeout_s):
            self.kill()
            raise InvocationTimedOut(f"{self.spec.function} timed out after {context.timeout_s:.0f} s; "
                                     "its worker was stopped")
        return self._answer()

    def _answer(self) -> Any:
        function = self.spec.function
        try:
            kind, body, met = self.conn.recv()
        except (EOFError, ConnectionResetError) as exc:
            self.kill()
            raise WorkerDied(f"{function}: its worker ended without answering "
                             f"(exit code {self.process.exitcode})", self.process.exitcode) from exc
        faults.absorb(*met)
        if kind == "error":
            name, message = body
            raise InvocationError(function, name, message)
        if kind == "crash":         # the worker is gone
            self.process.join(5)
            raise Crash(body, function)
        if kind == "ready":
            return None
        result, visibility = body   # "ok": the handler's result, the messages whose visibility it set
        iam.visibility_set(visibility)
        return result

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()

    def retire(self) -> None:
        """Close the pipe: the worker returns from its loop and exits."""
        self.conn.close()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)


class FunctionWorkers:
    """One function's execution environments: a warm worker is reused, a new one started when none
    is free, up to `max_workers` (Lambda's reserved concurrency; None: the callers bound it, as the
    runner's pollers bound a queue's function). At the limit an invocation waits for a free one."""

    def __init__(self, spec: WorkerSpec, max_workers: int | None = None) -> None:
        self.spec = spec
        self.max_workers = max_workers
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        self._starting = 0
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._closed = False
        self.cold_starts = 0

    def __call__(self, event: Any, context: LambdaContext) -> Any:
        """Invoke the function once (as `acting_as` its role in the stack's process: the invocation
        is numbered there, and what the worker met is counted against it)."""
        with iam.acting_as(self.spec.function):
            worker = self._take()
            try:
                result = worker.invoke(event, context)
            except (Crash, InvocationTimedOut, WorkerDied):
                self._forget(worker)
                raise
            except BaseException:
                self._give_back(worker)
                raise
            self._give_back(worker)
            return result

    def warm(self, n: int = 1) -> None:
        """Start `n` workers now (one after the other), so the first `n` concurrent invocations are
        not cold starts."""
        for _ in range(n):
            self._give_back(self._start())

    def _take(self) -> Worker:
        with self._lock:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        return worker
                    self._all.discard(worker)
                if self._closed:
                    raise WorkerDied(f"{self.spec.function}: the stack is stopping")
                if self.max_workers is None or len(self._all) + self._starting < self.max_workers:
                    self._starting += 1
                    break
                self._freed.wait()
        return self._start(reserved=True)

    def _start(self, reserved: bool = False) -> Worker:
        """A new worker (a cold start); `reserved`: its place under max_workers is already counted."""
        with self._lock:
            if not reserved:
                self._starting += 1
        try:
            if self._closed:
                raise WorkerDied(f"{self.spec.function}: the stack is stopping")
            worker = Worker(self.spec)
        except BaseException:
            with self._lock:
                self._starting -= 1
                self._freed.notify()
            raise
        with self._lock:
            self._starting -= 1
            self._all.add(worker)
            self.cold_starts += 1
        log.debug("%s: worker %s started in %.1f s", self.spec.function, worker.process.pid, worker.init_s)
        return worker

    def _give_back(self, worker: Worker) -> None:
        with self._lock:
            if not self._closed and worker.alive:
                self._idle.append(worker)
                self._freed.notify()
                return
            self._all.discard(worker)
            self._freed.notify()
        worker.retire()

    def _forget(self, worker: Worker) -> None:
        with self._lock:
            self._all.discard(worker)
            if worker in self._idle:
                self._idle.remove(worker)
            self._freed.notify()

    def pids(self) -> list[int]:
        """The process ids of this function's workers now (a benchmark reads their CPU time)."""
        with self._lock:
            return [w.process.pid for w in self._all if w.process.pid is not None]

    def close(self) -> None:
        """Retire every worker (after the invocations in flight finished: the runner drains first)."""
        with self._lock:
            self._closed = True
            workers, self._idle, self._all = list(self._all), [], set()
            self._freed.notify_all()
        for worker in workers:
            worker.retire()
