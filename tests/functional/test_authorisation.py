"""The authorisation seam, every route x every kind of caller.

Every /v1/ route is role-protected; everything else is a known public webhook that checks its own
proof. The matrix below iterates the Edge's own registry (`edge.protected_routes()`), so a route added
later is covered without touching this file: each is called with no credentials, the operations API
key, a cx_admin / branch_manager / agent bearer token of the local stack, and forged or wrong tokens
(expired, another secret, alg none, a group named `operations`). Bad credentials get 401, a role the
route is not open to 403, an allowed role passes the edge (the view may still answer 400 or 404).

The Cognito path (AWS): API Gateway's authorizer leaves the verified claims in the request context,
which `chalice.test.Client` cannot set; so app.py's handler is invoked directly with an API Gateway
proxy event carrying them (tests/events/apigateway-cognito-authorizer.json), through the same
middleware. Fictional users, keys and secrets only.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from chalice.local import LambdaContext

import app as app_module
from chalicelib.domain.claims import id_token_claims
from chalicelib.domain.local_token import mint
from chalicelib.domain.principal import Role
from tests.functional.conftest import API_KEY, ENV
from tests.services.conftest import EVENTS, Clock

PUBLIC_WEBHOOKS = {("/twilio/sms", "POST"), ("/twilio/status", "POST"),
                   ("/line/webhook", "POST"),                           # LINE's x-line-signature
                   ("/wechat/events", "GET"), ("/wechat/events", "POST"),  # signed with the account's Token
                   # Alibaba's receipt pushes (China SMS): unsigned, the token the URL ends with is the proof
                   ("/alibaba/sms/reports/{token}", "POST"), ("/alibaba/sms/replies/{token}", "POST"),
                   ("/s/{token}", "GET"), ("/s/{token}", "POST"),      # the web survey: a signed token
                   ("/u/{token}", "GET"), ("/u/{token}", "POST"),      # an email's unsubscribe: a signed token
                   # The CX dashboard checks its own session cookie (tests/functional/test_dashboard.py);
                   # its scripts are the same for everyone.
                   ("/dashboard", "GET"), ("/dashboard/local-sign-in", "GET"), ("/dashboard/sign-out", "GET"),
                   ("/dashboard/responses.csv", "GET"),
                   ("/dashboard/assets/{name}", "GET"),
                   # The case workspace checks the same session, and a CSRF token on every form
                   # (tests/functional/test_case_workspace.py).
                   ("/cases", "GET"), ("/cases/{case_id}", "GET"), ("/cases/{case_id}/{action}", "POST")}

SECRET = ENV["KOE_LOCAL_TOKEN_SECRET"]
NOW = Clock().now                                    # the functional components' clock
HOUR = timedelta(hours=1)
SCOPE = {Role.CX_ADMIN: {}, Role.BRANCH_MANAGER: {"branch": "tokyo-01"},
         Role.AGENT: {"agent_id": "A-12", "branch": "tokyo-01"}}
PROTECTED = app_module.edge.protected_routes()
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}


def routes() -> list[tuple[str, str]]:
    return [(path, method) for path, methods in app_module.app.routes.items() for method in methods]


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def token(role: Role, *, secret: str = SECRET, issued_at: Any = NOW) -> str:
    return mint(secret, id_token_claims(f"local-{role.value}", role, **SCOPE[role]), issued_at, HOUR)


@dataclass(frozen=True)
class Caller:
    """One kind of caller: the headers it sends and the role it is, None when it is nobody (401)."""

    name: str
    headers: Mapping[str, str]
    role: Role | None


def bearer(value: str) -> dict[str, str]:
    return {"authorization": f"Bearer {value}"}


def alg_none() -> str:
    claims = {**id_token_claims("local-forger", Role.CX_ADMIN), "iss": "koe-local", "aud": "koe-local",
              "token_use": "id", "iat": int(NOW.timestamp()), "exp": int((NOW + HOUR).timestamp())}
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."


def forged_lifetime(lifetime: timedelta) -> str:
    """Signed with the right secret, issued now, but expiring only after `lifetime`."""
    claims = {**id_token_claims("local-cx_admin", Role.CX_ADMIN), "iss": "koe-local", "aud": "koe-local",
              "token_use": "id", "iat": int(NOW.timestamp()), "exp": int((NOW + lifetime).timestamp())}
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest())}"


def operations_group() -> str:
    """Signed with the right secret, but claiming the operations group: a token never makes operations."""
    return mint(SECRET, {"sub": "local-ops", "cognito:groups": ["operations"]}, NOW, HOUR)


CALLERS = (
    Caller("no credentials", {}, None),
    Caller("API key", {"x-api-key": API_KEY}, Role.OPERATIONS),
    Caller("cx_admin token", bearer(token(Role.CX_ADMIN)), Role.CX_ADMIN),
    Caller("branch_manager token", bearer(token(Role.BRANCH_MANAGER)), Role.BRANCH_MANAGER),
    Caller("agent token", bearer(token(Role.AGENT)), Role.AGENT),
    Caller("expired token", bearer(token(Role.CX_ADMIN, issued_at=NOW - 2 * HOUR)), None),
    Caller("token issued in the future", bearer(token(Role.CX_ADMIN, issued_at=NOW + 2 * HOUR)), None),
    Caller("token for ten years", bearer(forged_lifetime(timedelta(days=3650))), None),
    Caller("token of another secret", bearer(token(Role.CX_ADMIN, secret="another-local-secret-0123456789ab")), None),
    Caller("alg none", bearer(alg_none()), None),
    Caller("operations group token", bearer(operations_group()), None),
    Caller("wrong API key", {"x-api-key": "ops-key-9"}, None),
    Caller("garbage bearer", bearer("not.a.token"), None),
)


def concrete(path: str) -> str:
    """A route's path with fictional values for its parameters."""
    return re.sub(r"\{[^}]+\}", "fictional-1", path)


def edge_refusal(role: Role) -> dict[str, str]:
    return {"error": f"this route is not open to the role {role.value}", "code": "forbidden"}


def check(status: int, body: Any, roles: frozenset[Role], caller_role: Role | None, where: str) -> None:
    if caller_role is None:
        assert status == 401, where
        assert body["code"] == "unauthenticated", where
    elif caller_role not in roles:
        assert (status, body) == (403, edge_refusal(caller_role)), where
    else:       # through the edge: the view answers (400/404 for these made-up requests is fine)
        assert status != 401 and body != edge_refusal(caller_role), where
        assert status < 500, f"{where}: the view failed with {status} {body}"


# --- the seam itself ---------------------------------------------------------------------------------

def test_every_v1_route_declares_its_roles_and_every_other_route_is_a_known_webhook():
    for path, method in routes():
        if path.startswith("/v1/"):
            assert PROTECTED.get((path, method)), f"{method} {path} is open: give it roles"
        else:
            assert (path, method) in PUBLIC_WEBHOOKS, f"{method} {path} is neither /v1/ nor a known webhook"
    assert set(PROTECTED) <= set(routes())       # no roles left for a route that is gone


def test_the_operations_routes_stay_operations_only():
    for route in (("/v1/events", "POST"), ("/v1/outcomes", "GET")):
        assert PROTECTED[route] == {Role.OPERATIONS}, route
    # The scores are the CX team's (each role within its scope), read by the dashboard.
    assert PROTECTED[("/v1/scores", "GET")] == {Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT}


def test_no_route_mixes_the_operations_key_with_cx_roles():
    # In AWS a CX route is behind the Cognito authorizer and an operations route is not: one route
    # cannot be both (infra/ refuses to synthesize such a route).
    for route, roles in PROTECTED.items():
        assert roles == {Role.OPERATIONS} or Role.OPERATIONS not in roles, route


# --- every route x every caller, through chalice.test.Client ---------------------------------------------

@pytest.mark.parametrize("route", sorted(PROTECTED), ids=lambda r: f"{r[1]} {r[0]}")
@pytest.mark.parametrize("caller", CALLERS, ids=lambda c: c.name)
def test_every_route_answers_every_caller_by_its_roles(koe, route, caller):
    path, method = route
    headers = {**caller.headers, **({"content-type": "application/json"} if method in BODY_METHODS else {})}
    response = koe.client.http.request(method, concrete(path), headers=headers,
                                       body=b"{}" if method in BODY_METHODS else b"")
    check(response.status_code, response.json_body, PROTECTED[route], caller.role, f"{caller.name}: {method} {path}")


@pytest.mark.parametrize("route", routes(), ids=lambda r: f"{r[1]} {r[0]}")
def test_no_answer_but_the_dashboards_scripts_may_be_cached(koe, route):
    # Given each route, called by a caller it is open to (and by nobody)
    path, method = route
    roles = PROTECTED.get(route, frozenset())
    allowed = {"x-api-key": API_KEY} if Role.OPERATIONS in roles else bearer(token(Role.CX_ADMIN))
    body_headers = {"content-type": "application/json"} if method in BODY_METHODS else {}
    for headers in ({}, allowed):
        response = koe.client.http.request(method, concrete(path), headers={**headers, **body_headers},
                                           body=b"{}" if method in BODY_METHODS else b"")
        # Then what it answers (personal data, a case, a page, an error) is never stored by a cache
        expected = "public, max-age=3600" if path == "/dashboard/assets/{name}" and response.status_code == 200 \
            else "no-store"
        assert response.headers.get("Cache-Control") == expected, f"{method} {path} {response.status_code}"


def test_a_token_expires_on_the_apps_clock(koe):
    # Given a cx_admin's token, good for an hour from now on the app's clock, and a route it opens
    cx_routes = [route for route, roles in sorted(PROTECTED.items()) if Role.CX_ADMIN in roles]
    if not cx_routes:
        pytest.skip("no CX route yet")
    path, method = cx_routes[0]
    headers = bearer(token(Role.CX_ADMIN))
    assert koe.client.http.request(method, concrete(path), headers=headers).status_code != 401
    # When the app's clock passes the hour and the leeway
    koe.clock.advance(hours=1, minutes=2)
    # Then the same token is refused
    assert koe.client.http.request(method, concrete(path), headers=headers).status_code == 401


# --- the Cognito path: claims in the request context, as API Gateway's authorizer leaves them -----------

def api_gateway_event(path: str, method: str, claims: Mapping[str, str] | None) -> dict[str, Any]:
    """The recorded API Gateway proxy event, for this route, with these authorizer claims (None:
    a route without the authorizer, e.g. an operations route)."""
    event = copy.deepcopy(json.loads((EVENTS / "apigateway-cognito-authorizer.json").read_text()))
    event.update(resource=path, path=concrete(path), httpMethod=method,
                 pathParameters={name: "fictional-1" for name in re.findall(r"\{([^}]+)\}", path)} or None,
                 body="{}" if method in BODY_METHODS else None)
    if method in BODY_METHODS:
        event["headers"]["Content-Type"] = "application/json"
    event["requestContext"].update(resourcePath=path, httpMethod=method, path=f"/api{concrete(path)}")
    if claims is None:
        del event["requestContext"]["authorizer"]
    else:
        event["requestContext"]["authorizer"]["claims"] = dict(claims)
    return event


def invoke(event: dict[str, Any]) -> tuple[int, Any]:
    """app.py's API handler, as Lambda invokes it behind API Gateway."""
    answer = app_module.app(event, LambdaContext("koe-dev-APIHandler", 512))
    content_type = answer["headers"].get("Content-Type", "application/json")
    if not content_type.startswith("application/json"):      # a file (the CSV export): the view answered
        return answer["statusCode"], {"content_type": content_type}
    return answer["statusCode"], json.loads(answer["body"])


RECORDED_CLAIMS = json.loads((EVENTS / "apigateway-cognito-authorizer.json").read_text())[
    "requestContext"]["authorizer"]["claims"]
COGNITO_GROUPS = {Role.CX_ADMIN: "cx_admin", Role.BRANCH_MANAGER: "[agent branch_manager]", Role.AGENT: "agent"}


@pytest.mark.parametrize("route", sorted(PROTECTED), ids=lambda r: f"{r[1]} {r[0]}")
@pytest.mark.parametrize("role", [Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT], ids=str)
def test_cognito_claims_in_the_request_context_open_the_routes_of_their_role(components, route, role):
    path, method = route
    claims = {**RECORDED_CLAIMS, "cognito:groups": COGNITO_GROUPS[role]}
    status, body = invoke(api_gateway_event(path, method, claims))
    check(status, body, PROTECTED[route], role, f"cognito {role}: {method} {path}")


@pytest.mark.parametrize("claims", [
    {**RECORDED_CLAIMS, "cognito:groups": "operations"},
    {**RECORDED_CLAIMS, "token_use": "access"},
    {**RECORDED_CLAIMS, "cognito:groups": "branch_manager", "custom:branch": ""},
    {k: v for k, v in RECORDED_CLAIMS.items() if k != "sub"},
], ids=["operations group", "access token", "branch manager without branch", "no sub"])
def test_cognito_claims_that_name_nobody_get_401_on_every_route(components, claims):
    for path, method in sorted(PROTECTED):
        status, body = invoke(api_gateway_event(path, method, claims))
        assert (status, body["code"]) == (401, "unauthenticated"), f"{method} {path}"


def test_the_api_key_works_behind_api_gateway_without_an_authorizer(components):
    event = api_gateway_event("/v1/outcomes", "GET", None)
    event["headers"] = {"x-api-key": API_KEY}
    status, _ = invoke(event)
    assert status == 200
