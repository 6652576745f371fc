"""Cognito's hosted UI for the dashboard (AWS only): the authorization code grant with PKCE.

1. `/dashboard` without a session redirects to `authorize_url(state, challenge)`; the state and the
   PKCE verifier ride in a short-lived HttpOnly cookie (services/dashboard.py).
2. Cognito sends the user back to `<public_base_url>/dashboard?code=...&state=...`; `exchange` posts
   the code and the verifier to the token endpoint and gets the tokens.
3. The access token becomes the session cookie; `auth.CognitoSessions` has Cognito check it on
   every page view.

The app client has no secret (infra/: a browser app); PKCE binds the code to this sign-in.
Endpoints: `/oauth2/authorize`, `/oauth2/token`, `/logout` on the hosted UI's domain.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

from chalicelib.errors import RetryableError, Unauthenticated
from chalicelib.services.ports import SignInTokens as Tokens

SCOPES = "openid email profile aws.cognito.signin.user.admin"   # the last: GetUser accepts the token
TIMEOUT_S = 5


class HostedUi:
    def __init__(self, domain_url: str, client_id: str, redirect_uri: str):
        self._domain, self._client_id, self._redirect = domain_url.rstrip("/"), client_id, redirect_uri

    def authorize_url(self, state: str, code_challenge: str) -> str:
        query = {"response_type": "code", "client_id": self._client_id, "redirect_uri": self._redirect,
                 "scope": SCOPES, "state": state, "code_challenge_method": "S256", "code_challenge": code_challenge}
        return f"{self._domain}/oauth2/authorize?{urlencode(query)}"

    def logout_url(self) -> str:
        return f"{self._domain}/logout?{urlencode({'client_id': self._client_id, 'logout_uri': self._redirect})}"

    def exchange(self, code: str, verifier: str) -> Tokens:
        """The code for tokens. Unauthenticated when Cognito refuses the code (used, expired, forged);
        RetryableError when it cannot be reached or answers 5xx."""
        body = urlencode({"grant_type": "authorization_code", "client_id": self._client_id, "code": code,
                          "redirect_uri": self._redirect, "code_verifier": verifier}).encode("ascii")
        request = urllib.request.Request(f"{self._domain}/oauth2/token", data=body, method="POST",
                                         headers={"Content-Type": "application/x-www-form-urlencoded"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310 (https, configured)
                answer = json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as exc:
            if 400 <= exc.code < 500:
                raise Unauthenticated("the sign-in code was refused: sign in again") from exc
            raise RetryableError(f"the sign-in service answered {exc.code}") from exc
        except (urllib.error.URLError, TimeoutError) as exc:
            raise RetryableError("the sign-in service could not be reached") from exc
        token, lifetime = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not isinstance(lifetime, int):
            raise RetryableError("the sign-in service's answer had no access token")
        return Tokens(token, lifetime)
