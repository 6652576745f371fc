"""Authentication at the HTTP edge: credentials in, a Principal (or nobody) out.

Each authenticator reads what it understands of the request (its headers, or the request context
API Gateway fills in) and answers with a principal, or None when its credentials are absent or
wrong; the first principal wins. Three kinds:

- `ApiKeys`: `x-api-key`, one of the API keys secret's keys (KOE_API_KEYS_SECRET_ID) -> the role
  `operations` (operations systems).
- `CognitoClaims`: in AWS, API Gateway's Cognito user pool authorizer has verified the CX user's
  ID token and put its claims in the request context, which no client can write -> a CX role.
- `LocalTokens`: the local stack's `Authorization: Bearer <jwt>` (domain/local_token.py), only when
  KOE_LOCAL_TOKEN_SECRET is set, which infra/ never does -> a CX role.

Claims become a principal in one place (domain/claims.py): a token never makes an operations caller.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from chalicelib.domain import local_token
from chalicelib.domain.claims import GROUPS, principal_from_claims
from chalicelib.domain.principal import Principal, Role


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str], context: Mapping[str, Any]) -> Principal | None: ...


class ApiKeys:
    """`x-api-key`: one of the configured keys makes the caller an operations system."""

    header = "x-api-key"

    def __init__(self, keys: Sequence[str] | Callable[[], Sequence[str]]):
        # A callable is asked on each request that presents a key (the API keys secret, through its
        # cache: a key added or removed there is honoured without a redeploy), never before.
        self._keys = keys if callable(keys) else (lambda listed=tuple(keys): listed)

    def authenticate(self, headers: Mapping[str, str], context: Mapping[str, Any]) -> Principal | None:
        presented = headers.get(self.header)
        if not presented:
            return None
        # compare_digest against every key: no early exit that would time which one nearly matched
        matches = [hmac.compare_digest(presented.encode(), key.encode()) for key in self._keys()]
        if not any(matches):
            return None
        # The key's position names it in logs; the key itself never appears anywhere.
        return Principal(subject=f"api-key-{matches.index(True) + 1}", role=Role.OPERATIONS)


class CognitoClaims:
    """The claims API Gateway's Cognito user pool authorizer verified and passed in the request
    context (`requestContext.authorizer.claims`). Only routes with that authorizer get them
    (infra/ attaches it to every CX route); a client cannot set the context, locally either."""

    def authenticate(self, headers: Mapping[str, str], context: Mapping[str, Any]) -> Principal | None:
        authorizer = context.get("authorizer")
        claims = authorizer.get("claims") if isinstance(authorizer, Mapping) else None
        if not isinstance(claims, Mapping):
            return None
        # An access token carries no custom attributes; only an ID token says who the user is.
        if claims.get("token_use", local_token.TOKEN_USE) != local_token.TOKEN_USE:
            return None
        return principal_from_claims(claims)


class LocalTokens:
    """`Authorization: Bearer <jwt>` signed with the local stack's secret, checked on this app's
    clock (the local stack's clock moves when its time machine does)."""

    def __init__(self, secret: str, clock: Callable[[], datetime]):
        if len(secret) < local_token.MIN_SECRET_CHARS:
            raise ValueError(f"the local token secret must be at least {local_token.MIN_SECRET_CHARS} characters")
        self._secret = secret
        self._clock = clock

    def authenticate(self, headers: Mapping[str, str], context: Mapping[str, Any]) -> Principal | None:
        token = bearer_token(headers)
        return self.principal(token) if token is not None else None

    def principal(self, token: str) -> Principal | None:
        """A session's token (the dashboard's cookie) -> its principal, or None: the same check."""
        claims = local_token.verify(self._secret, token, self._clock())
        return principal_from_claims(claims) if claims is not None else None


class CognitoSessions:
    """In AWS: the access token Cognito's hosted UI issued for the dashboard, checked by Cognito
    itself (GetUser answers only for a token it signed that is neither expired nor revoked). The
    user's attributes (sub, custom:branch, custom:agent_id) come from that answer; the groups from
    the token Cognito has just accepted. `client` is boto3's cognito-idp client (GetUser needs no
    IAM permission: the token is the credential)."""

    def __init__(self, client: Any):
        self._client = client

    def principal(self, token: str) -> Principal | None:
        from botocore.exceptions import ClientError

        try:
            user = self._client.get_user(AccessToken=token)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code in ("NotAuthorizedException", "UserNotFoundException", "InvalidParameterException"):
                return None
            raise                 # throttled or unavailable: a 5xx, never a silent sign-out
        claims: dict[str, Any] = {a["Name"]: a["Value"] for a in user.get("UserAttributes", [])}
        claims[GROUPS] = local_token.payload_unverified(token).get(GROUPS, [])
        return principal_from_claims(claims)


def bearer_token(headers: Mapping[str, str]) -> str | None:
    """The token of `Authorization: Bearer <token>` (the scheme in any case), or None."""
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def authenticate(authenticators: Sequence[Authenticator], headers: Mapping[str, str],
                 context: Mapping[str, Any]) -> Principal | None:
    """The first principal any authenticator recognises, or None."""
    for authenticator in authenticators:
        principal = authenticator.authenticate(headers, context)
        if principal is not None:
            return principal
    return None
