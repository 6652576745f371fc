"""The local stack's HTTP server (devstack/local_http.py, started as devstack/stack.py starts it) in
front of koe's app with fakes (tests/functional/conftest.py): the edges Chalice's LocalDevServer
answers itself — a path no route has, a method a path does not have, HEAD, a request http.server
refuses — answer in koe's one JSON error shape, and the access log masks credentials."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import app as app_module
from chalicelib.bootstrap import install
from chalicelib.http import NO_ROUTE
from devstack.stack import local_http_server
from tests.functional.conftest import fake_components


@dataclass
class Served:
    port: int

    def connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)

    def ask(self, method: str, path: str, headers: dict[str, str] | None = None,
            ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connection()
        try:
            connection.request(method, path, headers=headers or {})
            answer = connection.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            connection.close()


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    previous = install(fake_components())
    server = local_http_server(app_module.app, 0)
    thread = threading.Thread(target=server.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server.server.server_address[1])
    finally:
        server.shutdown()
        server.server.server_close()
        install(previous)


@pytest.mark.parametrize(("method", "headers"), [
    ("GET", {}), ("POST", {}), ("DELETE", {}),
    ("GET", {"Authorization": "Bearer not-a-token"}),     # Chalice answered this one another 403 still
])
def test_a_path_no_route_has_is_a_404_in_koes_error_shape(served: Served, method: str, headers: dict[str, str]):
    status, answer_headers, body = served.ask(method, "/v1/no-such-route", headers)
    assert status == 404
    assert answer_headers["content-type"] == "application/json"
    assert json.loads(body) == dict(NO_ROUTE) == {"error": NO_ROUTE["error"], "code": "not_found"}


@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("TRACE", "/v1/cases", "GET"), ("PUT", "/v1/events", "POST"), ("PROPFIND", "/dashboard", "GET"),
    ("CONNECT", "/v1/scores", "GET"),
])
def test_a_known_path_with_a_method_it_does_not_have_is_a_405_in_koes_error_shape(
        served: Served, method: str, path: str, allowed: str):
    status, headers, body = served.ask(method, path)
    assert status == 405
    assert headers["allow"] == allowed
    assert json.loads(body) == {"error": f"Unsupported method: {method}", "code": "method_not_allowed"}


def test_head_answers_the_status_and_headers_without_a_body_and_no_traceback(
        served: Served, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG, logger="devstack.http")
    connection = served.connection()
    try:
        # Given one kept-alive connection, When HEAD twice then GET on it
        for _ in range(2):
            connection.request("HEAD", "/dashboard")
            head = connection.getresponse()
            # Then each HEAD gets the GET's status and headers, and no body to trip the next answer
            assert (head.status, head.read()) == (405, b"")
            assert head.getheader("allow") == "GET" and int(head.getheader("content-length") or 0) > 0
        connection.request("GET", "/v1/no-such-route")
        assert connection.getresponse().status == 404
    finally:
        connection.close()
    # And a client hanging up right after its HEAD is no error in the log
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw:
        raw.sendall(b"HEAD /s/abc HTTP/1.1\r\nHost: x\r\n\r\n")
    served.ask("GET", "/v1/no-such-route")     # the server is still there, and has logged the hang-up
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


def test_a_request_http_server_refuses_is_in_koes_error_shape(served: Served):
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw:
        raw.sendall(b"GET /v1/cases HTTP/1.1\r\nContent-Length: lots\r\n\r\n")
        answer = _read_all(raw)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400")
    assert json.loads(body) == {"error": "Content-Length is not a number", "code": "bad_request"}
    with socket.create_connection(("127.0.0.1", served.port), timeout=5) as raw:
        raw.sendall(b"GET /v1/cases HTTP/1.1\r\nX-Long: " + b"a" * 70_000 + b"\r\n\r\n")
        head, _, body = _read_all(raw).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431")
    assert json.loads(body) == {"error": "Line too long", "code": "request_header_fields_too_large"}


def test_the_access_log_masks_tokens_in_paths_and_queries(served: Served, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="devstack.http")
    served.ask("GET", "/dashboard/local-sign-in?token=eyJsign.in.secret")
    served.ask("GET", "/s/SurveyLinkSecret123?score=9")
    served.ask("GET", "/dashboard?code=Auth0Code&state=St4te&lang=ja")
    served.ask("GET", "/dashboard?openid=oKoe4f2b9c1d7e3a5b6c8d0e2f4a&lang=ja")    # as WeChat's pushes carry it
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "devstack.http")
    for secret in ("eyJsign.in.secret", "SurveyLinkSecret123", "Auth0Code", "St4te", "oKoe4f2b9c1d7e3a5b6c8d0e2f4a"):
        assert secret not in logged
    assert '"GET /dashboard/local-sign-in?token=*** HTTP/1.1"' in logged
    assert '"GET /s/***?score=9 HTTP/1.1"' in logged
    assert '"GET /dashboard?code=***&state=***&lang=ja HTTP/1.1"' in logged
    assert '"GET /dashboard?openid=***&lang=ja HTTP/1.1"' in logged


def test_the_access_log_masks_an_address_or_number_anywhere_in_a_query(served: Served,
                                                                       caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="devstack.http")
    served.ask("GET", "/dashboard/local-sign-in?hana%40example.jp=&owner=person:hana%40example.jp&to=%2B15550142"
                      "&from=2026-11-01&lang=ja")
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "devstack.http")
    assert "example.jp" not in logged and "15550142" not in logged
    assert '?***=&owner=***&to=***&from=2026-11-01&lang=ja HTTP/1.1"' in logged


def _read_all(raw: socket.socket) -> Any:
    chunks = []
    while chunk := raw.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_an_api_function_killed_by_an_injected_crash_is_api_gateways_502(
        served: Served, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    from devstack import faults

    def killed(*_args: Any, **_kwargs: Any) -> Any:
        raise faults.Crash("dynamodb", "api_handler")

    route = app_module.app.routes["/s/{token}"]["GET"]
    monkeypatch.setattr(route, "view_function", killed)
    with caplog.at_level(logging.WARNING, logger="devstack.http"):
        status, headers, body = served.ask("GET", "/s/some-token-value-of-a-survey")
    assert status == 502
    assert json.loads(body) == {"error": "Internal server error", "code": "gateway_error"}
    assert "api_handler killed after a dynamodb call succeeded" in caplog.text and "answered 502" in caplog.text
    status, _, _ = served.ask("GET", "/no-such-path")       # the server still serves
    assert status == 404
