"""Authentication at the HTTP edge: credentials in, a Principal (or nobody) out.

Each authenticator reads the request headers it understands and answers with a principal, or None
when its credentials are absent or wrong. The operations API key is one; the CX team's bearer
tokens join the same list without any change to the middleware.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from typing import Protocol

from chalicelib.domain.principal import Principal, Role


class Authenticator(Protocol):
    def authenticate(self, headers: Mapping[str, str]) -> Principal | None: ...


class ApiKeys:
    """`x-api-key`: one of the configured keys makes the caller an operations system."""

    header = "x-api-key"

    def __init__(self, keys: Sequence[str]):
        self._keys = tuple(keys)

    def authenticate(self, headers: Mapping[str, str]) -> Principal | None:
        presented = headers.get(self.header)
        if not presented:
            return None
        # compare_digest against every key: no early exit that would time which one nearly matched
        matches = [hmac.compare_digest(presented.encode(), key.encode()) for key in self._keys]
        if not any(matches):
            return None
        # The key's position names it in logs; the key itself never appears anywhere.
        return Principal(subject=f"api-key-{matches.index(True) + 1}", role=Role.OPERATIONS)


def authenticate(authenticators: Sequence[Authenticator], headers: Mapping[str, str]) -> Principal | None:
    """The first principal any authenticator recognises, or None."""
    for authenticator in authenticators:
        principal = authenticator.authenticate(headers)
        if principal is not None:
            return principal
    return None
