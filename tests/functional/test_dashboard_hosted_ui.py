"""The dashboard's sign-in in AWS, through app.py: no session -> Cognito's hosted UI (code grant with
PKCE, the state in a short-lived cookie); back with the code -> the code exchanged, the access token
the session cookie. The hosted UI and Cognito's session check are fakes of koe's own interfaces here
(tests/integration/test_dashboard_sign_in.py runs the real adapters)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.adapters.hosted_ui import HostedUi
from chalicelib.domain.principal import Principal, Role
from chalicelib.errors import Unauthenticated
from chalicelib.services.ports import SignInTokens as Tokens
from tests.functional.conftest import PUBLIC_BASE_URL

DOMAIN = "https://koe-test.auth.us-east-1.amazoncognito.com"
DASHBOARD = f"{PUBLIC_BASE_URL}/dashboard"


class FakeHostedUi(HostedUi):
    """The real authorize/logout URLs; the token endpoint answers from `codes`."""

    def __init__(self) -> None:
        super().__init__(DOMAIN, "client-123", DASHBOARD)
        self.codes: dict[str, str] = {}
        self.exchanged: list[tuple[str, str]] = []

    def exchange(self, code: str, verifier: str) -> Tokens:
        self.exchanged.append((code, verifier))
        if code not in self.codes:
            raise Unauthenticated("the sign-in code was refused: sign in again")
        return Tokens(self.codes[code], 3600)


@dataclass
class FakeCognitoSessions:
    users: dict[str, Principal] = field(default_factory=dict)

    def principal(self, token: str) -> Principal | None:
        return self.users.get(token)


@pytest.fixture
def hosted(components: Any) -> FakeHostedUi:
    ui = FakeHostedUi()
    sessions = FakeCognitoSessions({"access-admin": Principal("u-9", Role.CX_ADMIN),
                                    "access-ops": Principal("api-key-1", Role.OPERATIONS)})
    components.__dict__.update(hosted_ui=ui, dashboard_sessions=(sessions,), local_sign_in=None)
    return ui


def start(koe: Any) -> tuple[dict[str, list[str]], str]:
    answer = koe.client.http.get("/dashboard")
    assert answer.status_code == 303
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == f"{DOMAIN}/oauth2/authorize"
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "Max-Age=600" in cookie
    return parse_qs(location.query), cookie.split(";")[0]


def test_without_a_session_the_user_goes_to_the_hosted_ui_with_pkce(koe, hosted):
    query, cookie = start(koe)
    assert query["response_type"] == ["code"] and query["client_id"] == ["client-123"]
    assert query["redirect_uri"] == [DASHBOARD] and query["code_challenge_method"] == ["S256"]
    assert "aws.cognito.signin.user.admin" in query["scope"][0].split()
    state, verifier = cookie.partition("=")[2].split(".", 1)
    assert query["state"] == [state]
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert query["code_challenge"] == [digest]


def test_back_with_the_code_the_session_is_set_and_the_dashboard_opens(koe, hosted):
    query, cookie = start(koe)
    hosted.codes["code-1"] = "access-admin"
    back = koe.client.http.get(f"/dashboard?code=code-1&state={query['state'][0]}", headers={"cookie": cookie})
    assert back.status_code == 303 and back.headers["Location"] == DASHBOARD
    set_cookies = back.headers["Set-Cookie"]
    assert set_cookies[0].startswith("koe_session=access-admin; Max-Age=3600") and "Secure" in set_cookies[0]
    assert set_cookies[1].startswith("koe_sign_in=; Max-Age=0")
    assert hosted.exchanged == [("code-1", cookie.partition("=")[2].split(".", 1)[1])]
    page = koe.client.http.get("/dashboard", headers={"cookie": "koe_session=access-admin"})
    assert page.status_code == 200 and b"All branches" in page.body


@pytest.mark.parametrize("case", ["wrong_state", "no_cookie", "refused_code"])
def test_a_forged_or_stale_return_signs_nobody_in(koe, hosted, case):
    query, cookie = start(koe)
    hosted.codes["code-1"] = "access-admin"
    state = "forged" if case == "wrong_state" else query["state"][0]
    code = "code-9" if case == "refused_code" else "code-1"
    headers = {} if case == "no_cookie" else {"cookie": cookie}
    back = koe.client.http.get(f"/dashboard?code={code}&state={state}", headers=headers)
    assert back.status_code == 400 and "Set-Cookie" not in back.headers
    assert b"did not complete" in back.body


def test_a_user_in_no_cx_group_is_told_so(koe, hosted):
    query, cookie = start(koe)
    hosted.codes["code-1"] = "access-ops"
    back = koe.client.http.get(f"/dashboard?code=code-1&state={query['state'][0]}", headers={"cookie": cookie})
    assert back.status_code == 403 and b"no CX group" in back.body


def test_sign_out_goes_through_the_hosted_ui_logout(koe, hosted):
    answer = koe.client.http.get("/dashboard/sign-out")
    assert answer.status_code == 303
    assert answer.headers["Location"].startswith(f"{DOMAIN}/logout?client_id=client-123")


def test_the_local_sign_in_link_does_not_exist_in_aws(koe, hosted):
    assert koe.client.http.get("/dashboard/local-sign-in?token=abc").status_code == 404


def test_a_case_link_signs_in_through_the_hosted_ui_and_comes_back_to_the_case(koe, hosted):
    """An alert's link to a case: to the hosted UI (remembering the case), back with the code, then
    to the case itself, not the dashboard."""
    link = "/cases/claims-2026-000123-paid?lang=ja"
    answer = koe.client.http.get(link)
    assert answer.status_code == 303 and answer.headers["Location"].startswith(f"{DOMAIN}/oauth2/authorize")
    cookies = [c.split(";")[0] for c in answer.headers["Set-Cookie"]]
    assert [c.partition("=")[0] for c in cookies] == ["koe_sign_in", "koe_return"]
    state = parse_qs(urlsplit(answer.headers["Location"]).query)["state"][0]
    hosted.codes["code-1"] = "access-admin"
    back = koe.client.http.get(f"/dashboard?code=code-1&state={state}", headers={"cookie": "; ".join(cookies)})
    assert back.status_code == 303 and back.headers["Location"] == f"{PUBLIC_BASE_URL}{link}"
    assert any(c.startswith("koe_return=; Max-Age=0") for c in back.headers["Set-Cookie"])
