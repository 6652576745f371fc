"""The CX team's bearer tokens in the local stack (`python -m devstack token`, `make token`).

In AWS, Cognito signs the CX users' ID tokens and API Gateway checks them. Locally, koe accepts
HS256 tokens with the same claims, signed with KOE_LOCAL_TOKEN_SECRET (chalicelib/auth.py,
LocalTokens), which the local stack sets and infra/ never does.

The secret is made once per project and kept in `.koe/local-token-secret` (git-ignored, 0600), so
`python -m devstack` and `python -m devstack token` agree whether the stack runs or not, and a token
keeps working across restarts until it expires (unless it was minted on a clock `advance` moved
forward, which a restart sets back: a token issued in the future is refused). A stack that keeps
nothing (`--in-memory`, or one started from code by tests) gets a random secret of its own; the
command reads the running stack's secret from its ready file first, so it agrees with that one too.
"""

from __future__ import annotations

import json
import secrets
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

from chalicelib.domain import local_token
from chalicelib.domain.claims import id_token_claims
from chalicelib.domain.principal import Role
from devstack.private_files import write_private

DEFAULT_HOURS = 8.0           # a working day; Cognito's ID tokens last 1 h
MAX_HOURS = local_token.MAX_LIFETIME.total_seconds() / 3600     # what the app accepts: 24 h
CX_ROLES = (Role.CX_ADMIN.value, Role.BRANCH_MANAGER.value, Role.AGENT.value)


def secret_in(path: Path) -> str:
    """The project's local token secret, made the first time (random, 0600)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        write_private(path, secrets.token_urlsafe(48))
    secret = path.read_text().strip()
    if len(secret) < local_token.MIN_SECRET_CHARS:
        raise ValueError(f"{path} holds a secret shorter than {local_token.MIN_SECRET_CHARS} characters: "
                         "delete the file to make a new one")
    return secret


def stack_now(carrier_url: str | None) -> datetime:
    """The running stack's clock (its time machine may have moved it forward), else the wall clock."""
    if carrier_url:
        try:
            with urllib.request.urlopen(f"{carrier_url}/clock", timeout=2) as response:
                now = json.loads(response.read().decode("utf-8"))["now"]
            return datetime.fromisoformat(str(now).replace("Z", "+00:00"))
        except (OSError, ValueError, KeyError):
            pass
    return datetime.now(UTC)


def problem(role: str, branch: str | None, agent: str | None, hours: float) -> str | None:
    """What is wrong with the command's arguments, said for a person; None when they are fine."""
    if role == Role.BRANCH_MANAGER.value and not branch:
        return "--role branch_manager needs --branch (the branch they manage), e.g. --branch tokyo-01"
    if role == Role.AGENT.value and not agent:
        return "--role agent needs --agent (their agent id), e.g. --agent A-12"
    if not 0 < hours <= MAX_HOURS:
        return f"--hours must be more than 0 and at most {MAX_HOURS:g}"
    return None


def subject_for(role: str, branch: str | None, agent: str | None) -> str:
    """A stable made-up `sub` per role and scope (Cognito's is a UUID; never an email)."""
    scope = agent if role == Role.AGENT.value else branch if role == Role.BRANCH_MANAGER.value else None
    return f"local-{role}" + (f"-{scope}" if scope else "")


def mint(secret: str, role: str, *, branch: str | None = None, agent: str | None = None,
         hours: float = DEFAULT_HOURS, now: datetime, subject: str | None = None) -> str:
    """A token the local stack accepts as this CX user. ValueError when the arguments cannot make one."""
    wrong = problem(role, branch, agent, hours)
    if wrong:
        raise ValueError(wrong)
    claims = id_token_claims(subject or subject_for(role, branch, agent), Role(role),
                             branch=branch or None, agent_id=agent or None)
    return local_token.mint(secret, claims, now, timedelta(hours=hours))


def sign_in_link(api_url: str, token: str) -> str:
    """The local dashboard's sign-in link: the app sets the token as the session cookie, then opens
    /dashboard (services/dashboard.local_sign_in). Local only: AWS signs in through Cognito."""
    return f"{api_url.rstrip('/')}/dashboard/local-sign-in?{urlencode({'token': token})}"
