"""What the local stand-ins of outside platforms share (LINE's, `devstack/line.py`; Alibaba Cloud SMS's,
`devstack/alibaba_sms.py`): an HTTP server on a loopback address, bound when the stand-in is built (its
URL can go into koe's settings before it serves), served from a thread of its own, stopped cleanly;
handlers that answer JSON and log their request lines through the stand-in's own `log`.

The Twilio carrier (`devstack/carrier.py`) predates this and serves pages too; it keeps its own."""

from __future__ import annotations

import ipaddress
import json
import random
import signal
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol


class Serving(Protocol):
    @property
    def url(self) -> str: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...


def serve_until_signalled(platform: Serving, log: Callable[[str], None]) -> None:
    """A stand-in run on its own (`python -m devstack.<name>`): served until Ctrl-C or SIGTERM (also when
    started in the background, where the shell leaves SIGINT ignored), then stopped cleanly."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    platform.start()
    log(f"listening on {platform.url}; Ctrl-C to stop")
    while not stopping.wait(1.0):
        pass
    platform.stop()
    log("stopped")


def require_loopback(host: str, what: str) -> None:
    """A stand-in serves this machine only."""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"the {what} stand-in binds loopback only")


class DrawnFaults:
    """The faults a stand-in injects, each with its share of calls, drawn from a seeded generator in
    the order the stand-in names them; `injected` counts what was drawn."""

    def __init__(self, what: str, known: Collection[str], shares: Mapping[str, float] | None, seed: int) -> None:
        unknown = set(shares or {}) - set(known)
        if unknown:
            raise ValueError(f"unknown {what} faults {sorted(unknown)}: one of {sorted(known)}")
        self._known = tuple(known)
        self._shares = dict(shares or {})
        self._random = random.Random(seed)
        self.injected: Counter[str] = Counter()

    def draw(self) -> str | None:
        for name in self._known:
            share = self._shares.get(name, 0.0)
            if share and self._random.random() < share:
                self.injected[name] += 1
                return name
        return None


class StandInServer(ThreadingHTTPServer):
    """The stand-in's HTTP server; its handlers reach the platform through it."""

    daemon_threads = True
    server_address: tuple[str, int]

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], platform: Any) -> None:
        super().__init__(address, handler)
        self.platform = platform


class Served:
    """A stand-in's server: bound at once on a loopback address (port 0: any free one), then started
    and stopped with the stand-in."""

    def __init__(self, what: str, host: str, port: int, handler: type[BaseHTTPRequestHandler],
                 platform: Any) -> None:
        require_loopback(host, what)
        self._what = what
        self._server = StandInServer((host, port), handler, platform)
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        """host:port."""
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name=self._what,
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread:  # shutdown() would wait forever for a loop that never started
            self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5.0)


class JsonHandler(BaseHTTPRequestHandler):
    """Answers JSON over kept-alive connections; request lines (the path only: a query may carry a
    phone number) go to the stand-in's `say`."""

    protocol_version = "HTTP/1.1"
    server: StandInServer
    say: Callable[[str], None] = staticmethod(print)
    json_type = "application/json; charset=utf-8"

    def log_message(self, format: str, *args: Any) -> None:
        self.say(f"{self.command} {urllib.parse.urlsplit(self.path).path} {format % args}")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        self.say(f"{self.command} {urllib.parse.urlsplit(self.path).path} -> {code}")

    def _json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", self.json_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
