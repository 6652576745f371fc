"""The authenticators (chalicelib/auth.py) and the Edge's middleware on a fake request: the API key,
the Cognito claims API Gateway puts in the request context, the local stack's bearer tokens, and
which of 401 / 403 / through the middleware answers. Fictional keys, secrets and users."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.app import Chalice, Response

from chalicelib import http
from chalicelib.auth import ApiKeys, CognitoClaims, LocalTokens, authenticate, bearer_token
from chalicelib.domain.claims import id_token_claims
from chalicelib.domain.local_token import mint
from chalicelib.domain.principal import Principal, Role

SECRET = "unit-local-token-secret-0123456789"
NOW = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)
SUB = "9b2e4f10-1c3d-4e5f-8a7b-6c5d4e3f2a10"
AGENT_CLAIMS = {"sub": SUB, "cognito:groups": "agent", "custom:agent_id": "A-12", "custom:branch": "tokyo-01",
                "token_use": "id", "email": "taro@example.jp", "exp": "Sat Nov 21 02:20:00 UTC 2026"}


def local(role: Role = Role.AGENT, secret: str = SECRET, **scope: str) -> str:
    scope = scope or ({"agent_id": "A-12"} if role is Role.AGENT else {"branch": "tokyo-01"})
    return mint(secret, id_token_claims(f"local-{role.value}", role, **scope), NOW, timedelta(hours=1))


def cognito_context(claims: dict[str, Any]) -> dict[str, Any]:
    """What API Gateway's Cognito user pool authorizer leaves in the request context."""
    return {"authorizer": {"claims": claims}, "resourcePath": "/v1/cases", "httpMethod": "GET"}


# --- ApiKeys ----------------------------------------------------------------------------------------

def test_an_api_key_makes_an_operations_caller_named_by_position_never_by_key():
    keys = ApiKeys(["ops-key-1", "ops-key-2"])
    assert keys.authenticate({"x-api-key": "ops-key-2"}, {}) == Principal("api-key-2", Role.OPERATIONS)
    assert keys.authenticate({"x-api-key": "ops-key-3"}, {}) is None
    assert keys.authenticate({}, cognito_context(AGENT_CLAIMS)) is None


# --- CognitoClaims -----------------------------------------------------------------------------------

def test_cognito_claims_from_the_request_context_make_a_cx_principal():
    principal = CognitoClaims().authenticate({}, cognito_context(AGENT_CLAIMS))
    assert principal == Principal(SUB, Role.AGENT, branch="tokyo-01", agent_id="A-12")
    # the subject is the sub, never the email the token also carries
    assert principal is not None and "@" not in principal.subject


@pytest.mark.parametrize("context", [
    {}, {"authorizer": None}, {"authorizer": "claims"}, {"authorizer": {"principalId": "x"}},
    {"authorizer": {"claims": "sub=x"}},
    cognito_context({**AGENT_CLAIMS, "token_use": "access"}),           # an access token says nobody
    cognito_context({**AGENT_CLAIMS, "cognito:groups": "operations"}),  # a group named operations: no role
    cognito_context({**AGENT_CLAIMS, "custom:agent_id": ""}),
])
def test_without_usable_claims_in_the_context_cognito_says_nobody(context):
    assert CognitoClaims().authenticate({}, context) is None


def test_cognito_claims_ignore_the_headers_a_client_writes():
    headers = {"authorization": f"Bearer {local()}", "x-amzn-authorizer-claims": '{"cognito:groups": "cx_admin"}'}
    assert CognitoClaims().authenticate(headers, {}) is None


# --- LocalTokens -------------------------------------------------------------------------------------

def test_a_local_bearer_token_makes_its_cx_principal_on_the_apps_clock():
    tokens = LocalTokens(SECRET, lambda: NOW + timedelta(minutes=30))
    assert tokens.authenticate({"authorization": f"Bearer {local()}"}, {}) == Principal(
        "local-agent", Role.AGENT, agent_id="A-12")
    assert tokens.authenticate({"authorization": f"bearer   {local(Role.CX_ADMIN)}"}, {}) == Principal(
        "local-cx_admin", Role.CX_ADMIN)
    # later than its hour (plus the leeway) on the app's clock: expired
    late = LocalTokens(SECRET, lambda: NOW + timedelta(hours=2))
    assert late.authenticate({"authorization": f"Bearer {local()}"}, {}) is None


@pytest.mark.parametrize("header", [
    None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token abc", "Bearer not-a-jwt",
    "Bearer " + "a" * 10000, "Bearer a.b.c",
])
def test_a_missing_or_malformed_authorization_header_is_nobody(header):
    headers = {} if header is None else {"authorization": header}
    assert LocalTokens(SECRET, lambda: NOW).authenticate(headers, {}) is None


def test_a_token_signed_with_another_secret_is_nobody():
    other = local(secret="another-local-secret-0123456789abc")
    assert LocalTokens(SECRET, lambda: NOW).authenticate({"authorization": f"Bearer {other}"}, {}) is None


def test_local_tokens_need_a_secret_of_32_characters():
    with pytest.raises(ValueError, match="32"):
        LocalTokens("too-short", lambda: NOW)


def test_bearer_token_reads_the_scheme_in_any_case():
    assert bearer_token({"authorization": "BEARER abc"}) == "abc"
    assert bearer_token({"authorization": "abc"}) is None


def test_the_first_authenticator_that_knows_the_caller_wins():
    chain = (ApiKeys(["ops-key-1"]), CognitoClaims(), LocalTokens(SECRET, lambda: NOW))
    assert authenticate(chain, {"x-api-key": "ops-key-1"}, {}) == Principal("api-key-1", Role.OPERATIONS)
    assert authenticate(chain, {}, cognito_context(AGENT_CLAIMS)) is not None
    assert authenticate(chain, {"authorization": f"Bearer {local(Role.CX_ADMIN)}"}, {}) is not None
    assert authenticate(chain, {"x-api-key": "nope", "authorization": "Bearer nope"}, {}) is None


# --- the Edge's middleware on a fake request ------------------------------------------------------------

@dataclass
class FakeRequest:
    """What the middleware reads of a Chalice request."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    authorizer: dict[str, Any] | None = None
    raw_body: bytes = b""
    context: dict[str, Any] = field(init=False)

    def __post_init__(self) -> None:
        self.context = {"resourcePath": self.path, "httpMethod": self.method}
        if self.authorizer is not None:
            self.context["authorizer"] = self.authorizer


@pytest.fixture
def edge() -> http.Edge:
    app = Chalice(app_name="unit-edge")
    built = http.Edge(app, lambda: (ApiKeys(["ops-key-1"]), CognitoClaims(), LocalTokens(SECRET, lambda: NOW)))
    built.route("/v1/ops", roles=[Role.OPERATIONS])(lambda: {})
    built.route("/v1/cases", roles=[Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT])(lambda: {})
    built.route("/v1/admin", methods=["GET", "POST"], roles=[Role.CX_ADMIN])(lambda: {})
    built.route("/hook", methods=["POST"], roles=http.PUBLIC)(lambda: {})
    return built


def through(edge: http.Edge, request: FakeRequest) -> tuple[Response, Principal | None]:
    """The middleware's answer, and the principal the view would have seen (None: not reached)."""
    seen: list[Principal | None] = []

    def view(req: Any) -> Response:
        seen.append(req.context.get(http.PRINCIPAL))
        return Response({"ok": True}, status_code=200)

    response = edge._middleware(request, view)
    return response, (seen[0] if seen else None)


def test_the_registry_is_read_only_and_lists_every_protected_method(edge):
    routes = edge.protected_routes()
    assert dict(routes) == {("/v1/ops", "GET"): {Role.OPERATIONS},
                            ("/v1/cases", "GET"): {Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT},
                            ("/v1/admin", "GET"): {Role.CX_ADMIN}, ("/v1/admin", "POST"): {Role.CX_ADMIN}}
    with pytest.raises(TypeError):
        routes[("/v1/ops", "GET")] = frozenset({Role.AGENT})       # type: ignore[index]


def test_cognito_claims_in_the_context_pass_the_edge_with_their_principal(edge):
    response, principal = through(edge, FakeRequest("GET", "/v1/cases", authorizer={"claims": AGENT_CLAIMS}))
    assert response.status_code == 200
    assert principal == Principal(SUB, Role.AGENT, branch="tokyo-01", agent_id="A-12")


def test_cognito_claims_of_a_role_not_allowed_get_403(edge):
    response, principal = through(edge, FakeRequest("GET", "/v1/admin", authorizer={"claims": AGENT_CLAIMS}))
    assert (response.status_code, principal) == (403, None)
    assert response.body == {"error": "this route is not open to the role agent", "code": "forbidden"}


def test_a_cx_caller_never_opens_an_operations_route_nor_the_api_key_a_cx_route(edge):
    admin = {**AGENT_CLAIMS, "cognito:groups": "cx_admin"}
    assert through(edge, FakeRequest("GET", "/v1/ops", authorizer={"claims": admin}))[0].status_code == 403
    bearer = {"authorization": f"Bearer {local(Role.CX_ADMIN)}"}
    assert through(edge, FakeRequest("GET", "/v1/ops", headers=bearer))[0].status_code == 403
    assert through(edge, FakeRequest("POST", "/v1/admin", headers={"x-api-key": "ops-key-1"}))[0].status_code == 403


def test_no_credentials_get_401_naming_both_kinds(edge):
    response, principal = through(edge, FakeRequest("GET", "/v1/cases"))
    assert (response.status_code, principal) == (401, None)
    assert response.body["code"] == "unauthenticated"
    assert "x-api-key" in response.body["error"] and "Bearer" in response.body["error"]


def test_a_public_route_passes_without_credentials(edge):
    response, principal = through(edge, FakeRequest("POST", "/hook"))
    assert (response.status_code, principal) == (200, None)
