"""The dashboard's sign-in adapters against real counterparts: `CognitoSessions` asks moto's Cognito
(GetUser, the user's attributes and groups), `HostedUi.exchange` posts to a token endpoint served on
127.0.0.1 the way Cognito's answers (form post in, JSON out, 400 for a bad code)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.hosted_ui import HostedUi
from chalicelib.auth import CognitoSessions
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import RetryableError, Unauthenticated

PASSWORD = "Example-Passw0rd!"


@pytest.fixture
def cognito() -> Iterator[tuple[Any, str, str]]:
    with mock_aws():
        client = boto3.client("cognito-idp", region_name="ap-northeast-1")
        pool = client.create_user_pool(PoolName="koe-test-cx", Schema=[
            {"Name": "branch", "AttributeDataType": "String", "Mutable": True},
            {"Name": "agent_id", "AttributeDataType": "String", "Mutable": True}])["UserPool"]["Id"]
        app = client.create_user_pool_client(UserPoolId=pool, ClientName="dashboard",
                                             ExplicitAuthFlows=["ADMIN_NO_SRP_AUTH"])["UserPoolClient"]["ClientId"]
        for group in ("cx_admin", "branch_manager", "agent"):
            client.create_group(GroupName=group, UserPoolId=pool)
        yield client, pool, app


def signed_in(cognito: tuple[Any, str, str], user: str, group: str | None, **attributes: str) -> str:
    client, pool, app = cognito
    client.admin_create_user(UserPoolId=pool, Username=user, UserAttributes=[
        {"Name": f"custom:{k}", "Value": v} for k, v in attributes.items()], MessageAction="SUPPRESS")
    client.admin_set_user_password(UserPoolId=pool, Username=user, Password=PASSWORD, Permanent=True)
    if group:
        client.admin_add_user_to_group(UserPoolId=pool, Username=user, GroupName=group)
    answer = client.admin_initiate_auth(UserPoolId=pool, ClientId=app, AuthFlow="ADMIN_NO_SRP_AUTH",
                                        AuthParameters={"USERNAME": user, "PASSWORD": PASSWORD})
    return str(answer["AuthenticationResult"]["AccessToken"])


def test_a_branch_managers_session_is_their_role_and_branch(cognito):
    token = signed_in(cognito, "mgr-tokyo", "branch_manager", branch="tokyo-chuo")
    principal = CognitoSessions(cognito[0]).principal(token)
    assert principal is not None
    assert (principal.role, principal.branch) == (Role.BRANCH_MANAGER, "tokyo-chuo")


def test_an_agent_and_an_admin(cognito):
    agent = CognitoSessions(cognito[0]).principal(signed_in(cognito, "a-102", "agent", agent_id="A-102"))
    assert agent is not None and (agent.role, agent.agent_id) == (Role.AGENT, "A-102")
    admin = CognitoSessions(cognito[0]).principal(signed_in(cognito, "lead", "cx_admin"))
    assert isinstance(admin, Principal) and admin.role is Role.CX_ADMIN


def test_a_user_in_no_group_or_a_token_cognito_refuses_is_nobody(cognito):
    sessions = CognitoSessions(cognito[0])
    assert sessions.principal(signed_in(cognito, "nobody", None)) is None
    assert sessions.principal("not-a-token") is None
    token = signed_in(cognito, "mgr-2", "branch_manager", branch="tokyo-chuo")
    cognito[0].global_sign_out(AccessToken=token)                 # revoked: Cognito no longer accepts it
    assert sessions.principal(token) is None


class TokenEndpoint(BaseHTTPRequestHandler):
    seen: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        TokenEndpoint.seen.append(form)
        code = form.get("code", [""])[0]
        status, body = {"good": (200, {"access_token": "eyJ.access.token", "expires_in": 3600,
                                       "token_type": "Bearer"}),
                        "down": (503, {"error": "unavailable"})}.get(code, (400, {"error": "invalid_grant"}))
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def endpoint() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), TokenEndpoint)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    TokenEndpoint.seen.clear()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_code_is_exchanged_with_its_verifier_for_the_access_token(endpoint):
    ui = HostedUi(endpoint, "client-123", "https://koe.example.com/api/dashboard")
    tokens = ui.exchange("good", "the-verifier")
    assert (tokens.access_token, tokens.expires_in) == ("eyJ.access.token", 3600)
    assert TokenEndpoint.seen == [{"grant_type": ["authorization_code"], "client_id": ["client-123"], "code": ["good"],
                                   "redirect_uri": ["https://koe.example.com/api/dashboard"],
                                   "code_verifier": ["the-verifier"]}]


def test_a_refused_code_is_unauthenticated_and_an_unavailable_service_is_retryable(endpoint):
    ui = HostedUi(endpoint, "client-123", "https://koe.example.com/api/dashboard")
    with pytest.raises(Unauthenticated):
        ui.exchange("used-already", "v")
    with pytest.raises(RetryableError):
        ui.exchange("down", "v")
    with pytest.raises(RetryableError):
        HostedUi("http://127.0.0.1:9", "client-123", "https://x").exchange("good", "v")
