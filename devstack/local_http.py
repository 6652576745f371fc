"""koe's HTTP routes on 127.0.0.1: Chalice's `chalice local` server, with its edges made koe's.

Chalice's LocalDevServer stands in for API Gateway, and at the edges it answers as neither koe nor a
careful server would. Here:

- a path no route has: **404** in koe's one JSON error shape (`chalicelib.http.NO_ROUTE`), not API
  Gateway's 403 `{"message": "Missing Authentication Token"}` (infra/ makes API Gateway answer the
  same 404 in AWS: a gateway response);
- a known path with a method it does not have (TRACE, PUT, a made-up one): the app's **405**, with
  `Allow`, in the JSON shape; never http.server's 501 HTML page;
- HEAD: the status and headers a request with that method gets, and **no body** (Chalice's handler
  wrote one, which broke the connection and printed a BrokenPipeError traceback);
- a request http.server itself refuses (a malformed request line, a header too long): its status in
  the JSON shape; a client that hangs up mid-answer is a debug line, not a traceback;
- the API function killed by an injected crash (devstack/faults.py) or failing outside koe's code:
  API Gateway's **502** (504 past its timeout), in the shape infra/ gives its DEFAULT_5XX;
- with `invoke` (the local stack), each request's proxy event goes to a worker process of the API
  function (devstack/workers.py), as API Gateway invokes Lambda; routes are still matched here;
- the access log goes through `logging` (logger `devstack.http`), with credentials masked: the
  values of query parameters that carry them (`?token=`, the hosted UI's `?code=&state=`) and path
  segments a route names a token (`/s/{token}`, `/u/{token}`); and whatever a caller put in a query
  that is not a plain word (a name or value with an @, a +, a space...) masked too, so an address or
  number typed into a query never reaches the log.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    LocalGateway,
    RouteMatcher,
    ThreadedHTTPServer,
)

from chalicelib import resources
from chalicelib.http import NO_ROUTE
from devstack.faults import Crash
from devstack.iam import acting_as
from devstack.workers import InvocationError, InvocationTimedOut, WorkerDied

log = logging.getLogger("devstack.http")

MASK = "***"
# Query parameters whose values are credentials or personal data, by name (any case): the sign-in
# link's token, the hosted UI's code and state, the openid WeChat puts on each push to /wechat/events,
# and anything that says what it is.
SECRET_QUERY = re.compile(r"token|code|state|secret|password|key|signature|email|phone|openid", re.IGNORECASE)
# Route parameters ("/s/{token}") whose path segment is a credential.
SECRET_PATH_PARAM = re.compile(r"token", re.IGNORECASE)
# A query parameter's name or value logged as sent: koe's own names, dates, enums, numbers, cursors.
PLAIN_QUERY_TEXT = re.compile(r"[A-Za-z0-9_.:,-]{0,128}")
_TARGET = re.compile(r"/[^\s\"']*")
_METHOD = re.compile(r"[A-Z][A-Z-]{0,31}")       # an HTTP method token as people send them


Invoke = Callable[[dict[str, Any], Any], dict[str, Any]]


def create_local_server(app_obj: Any, config: Any, host: str, port: int,
                        invoke: Invoke | None = None) -> LocalDevServer:
    """`chalice.local.create_local_server`, with koe's handler and server classes. `invoke`: how the
    API function is invoked with the proxy event API Gateway built (the local stack's: in worker
    processes of the function, devstack/workers.py); None calls `app_obj` in this process."""
    CustomLocalChalice.__bases__ = (LocalChalice, app_obj.__class__)   # as Chalice's own does
    app_obj.__class__ = CustomLocalChalice
    handler = type("KoeRequestHandlerFor", (KoeRequestHandler,), {"invoke": staticmethod(invoke) if invoke else None})
    return LocalDevServer(app_obj, config, host, port, handler_cls=handler, server_cls=KoeHTTPServer)


class _InvokedElsewhere:
    """The app object as API Gateway sees it: its routes read here, each call invoked through `invoke`."""

    def __init__(self, app_object: Any, invoke: Invoke) -> None:
        self._app_object, self._invoke = app_object, invoke

    def __getattr__(self, name: str) -> Any:
        return getattr(self._app_object, name)

    def __call__(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        return self._invoke(event, context)


class KoeGateway(LocalGateway):
    """Chalice's API Gateway stand-in; a path no route has is koe's 404."""

    def __init__(self, app_object: Any, config: Any, invoke: Invoke | None = None) -> None:
        super().__init__(app_object, config)
        if invoke is not None:
            self._app_object = _InvokedElsewhere(app_object, invoke)  # type: ignore[assignment]  # routes read through, calls invoked elsewhere

    def handle_request(self, method: str, path: str, headers: dict[str, Any], body: bytes | None) -> dict[str, Any]:
        try:
            self.event_converter._route_matcher.match_route(path)
        except ValueError:
            return json_answer(HTTPStatus.NOT_FOUND, NO_ROUTE)
        try:
            answer: dict[str, Any] = super().handle_request(method, path, headers, body)
        except (Crash, InvocationTimedOut, WorkerDied, InvocationError) as failure:
            # The API function died (devstack/faults.py `crash:<point>`), ran past its timeout or
            # failed outside koe's code: API Gateway answers 502 (504 for the timeout), and the
            # caller decides whether to send again.
            timed_out = isinstance(failure, InvocationTimedOut)
            status = HTTPStatus.GATEWAY_TIMEOUT if timed_out else HTTPStatus.BAD_GATEWAY
            message = "Endpoint request timed out" if timed_out else "Internal server error"
            log.warning("%s; answered %d", failure, status)
            return json_answer(status, {"error": message, "code": "gateway_error"})
        return answer


class KoeRequestHandler(ChaliceRequestHandler):
    invoke: Invoke | None = None        # set per server by create_local_server

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any, config: Any) -> None:
        self.local_gateway = KoeGateway(app_object, config, self.invoke)
        self._routes = list(app_object.routes)
        BaseHTTPRequestHandler.__init__(self, request, client_address, server)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD> and answers 501 HTML without one: every method goes to the
        # gateway instead, which answers 404 (no such path) or the app's 405 (no such method there).
        if name.startswith("do_") and _METHOD.fullmatch(name[3:]):
            return self._generic_handle
        raise AttributeError(name)

    def _generic_handle(self) -> None:
        try:
            int(self.headers.get("content-length", "0"))
        except ValueError:
            self.send_error(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
            return
        if self.invoke is not None:     # its worker acts as the API's function (devstack/workers.py)
            super()._generic_handle()
            return
        with acting_as(resources.API_HANDLER):     # the API's function: only what its role allows
            super()._generic_handle()

    # Chalice bound these to its own _generic_handle: bind them to the one above.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle

    def _send_http_response_with_body(self, code: int, headers: dict[str, Any], body: str | bytes) -> None:
        raw = body if isinstance(body, bytes) else body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Length", str(len(raw)))     # what a GET would get, also for HEAD
        self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
        self._send_headers(headers)
        if self.command != "HEAD":
            self.wfile.write(raw)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, a header too long) in koe's shape."""
        status = HTTPStatus(code)
        self.log_error("code %d, message %s", code, message)
        raw = json.dumps({"error": message or status.phrase, "code": _snake(status.phrase)}).encode("utf-8")
        self.close_connection = True
        self.send_response(code, message)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        log.info("%s %s", self.address_string(), mask(format % args, self._routes))


class KoeHTTPServer(ThreadedHTTPServer):
    # socketserver's listen backlog is 5; API Gateway takes a burst of connections (the carrier's
    # webhooks for 100 customers texting at once) without resetting any.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-answer is not koe's fault: a debug line, not a traceback."""
        import sys

        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.debug("%s went away: %s", client_address[0], type(error).__name__)
            return
        log.exception("the local HTTP server failed on a request from %s", client_address[0])


def json_answer(status: HTTPStatus, body: Mapping[str, Any]) -> dict[str, Any]:
    """An answer in the shape Chalice's app returns to the gateway."""
    return {"statusCode": int(status), "multiValueHeaders": {}, "body": json.dumps(dict(body)),
            "headers": {"Content-Type": "application/json", "Cache-Control": "no-store"}}


def mask(line: str, routes: Iterable[str]) -> str:
    """A log line with the credentials in each request target it quotes replaced by ***."""
    matcher = RouteMatcher(list(routes))
    return _TARGET.sub(lambda found: mask_target(found.group(0), matcher), line)


def mask_target(target: str, matcher: RouteMatcher) -> str:
    parts = urlsplit(target)
    path = parts.path
    try:
        captured = matcher.match_route(path).captured
    except ValueError:
        captured = {}
    secrets = {value for name, value in captured.items() if value and SECRET_PATH_PARAM.search(name)}
    if secrets:
        path = "/".join(MASK if segment in secrets else segment for segment in path.split("/"))
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = "&".join(f"{_plain(name)}={MASK if SECRET_QUERY.search(name) else _plain(value)}" for name, value in pairs)
    return f"{path}?{query}"


def _plain(text: str) -> str:
    return text if PLAIN_QUERY_TEXT.fullmatch(text) else MASK


def _snake(phrase: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", phrase.lower()).strip("_")
