"""The authorisation seam: every /v1/ route is role-protected; everything else is a known public
webhook that checks its own proof. A new route cannot be added open by mistake."""

import app as app_module
from chalicelib.domain.principal import Principal, Role

PUBLIC_WEBHOOKS = {("/twilio/sms", "POST"), ("/twilio/status", "POST"),
                   ("/s/{token}", "GET"), ("/s/{token}", "POST"),      # the web survey: a signed token
                   ("/u/{token}", "GET"), ("/u/{token}", "POST")}      # an email's unsubscribe: a signed token


def routes():
    return [(path, method) for path, methods in app_module.app.routes.items() for method in methods]


def test_every_v1_route_declares_its_roles_and_every_other_route_is_a_known_webhook():
    protected = app_module.edge._roles
    for path, method in routes():
        if path.startswith("/v1/"):
            assert protected.get((path, method)), f"{method} {path} is open: give it roles"
        else:
            assert (path, method) in PUBLIC_WEBHOOKS, f"{method} {path} is neither /v1/ nor a known webhook"
    assert set(protected) <= set(routes())       # no roles left for a route that is gone


def test_every_v1_route_answers_401_without_a_key(koe):
    for path, method in routes():
        if path.startswith("/v1/"):
            response = koe.client.http.request(method, path, headers={"content-type": "application/json"},
                                               body=b"{}")
            assert response.status_code == 401, f"{method} {path}"


class AgentTokens:
    """A second authenticator, as the CX team's bearer tokens will be: it knows one agent."""

    def authenticate(self, headers):
        if headers.get("authorization") == "Bearer agent-token-1":
            return Principal(subject="agent-1", role=Role.AGENT, branch="tokyo-chuo", agent_id="A-102")
        return None


def test_given_a_caller_whose_role_is_not_allowed_then_403_forbidden(koe):
    koe.components.authenticators = (*koe.components.authenticators, AgentTokens())
    response = koe.client.http.get("/v1/scores", headers={"authorization": "Bearer agent-token-1"})
    assert response.status_code == 403
    assert response.json_body == {"error": "this route is not open to the role agent", "code": "forbidden"}
