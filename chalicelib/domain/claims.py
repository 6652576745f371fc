"""A CX user's ID-token claims -> the Principal koe acts for, or nobody. Pure.

The claims are Cognito's ID token's (the local stack's tokens carry the same ones):

    sub               the user's stable id: the principal's subject (never the email)
    cognito:groups    the user pool groups: a JSON list in the token; a string once API Gateway's
                      REST Cognito authorizer has passed them on ("cx_admin", "agent,branch_manager",
                      or "[agent branch_manager]")
    custom:branch     a branch manager's branch (an agent's, when set)
    custom:agent_id   an agent's own id

The role is the most powerful CX group the user is in (cx_admin > branch_manager > agent); other
groups are ignored, so `operations` (the API key's role) can never come from a token. A user whose
role needs a scope the token lacks (a branch manager without a branch, an agent without an agent
id) is refused rather than given a lesser role: that is a user set up wrongly, and it should show.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from chalicelib.domain.principal import Principal, Role

SUBJECT = "sub"
GROUPS = "cognito:groups"
BRANCH = "custom:branch"
AGENT_ID = "custom:agent_id"

# The CX roles a token can carry, most powerful first. OPERATIONS is deliberately absent.
CX_ROLES: tuple[Role, ...] = (Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT)
MAX_VALUE_CHARS = 128          # a sub is a UUID; branches and agent ids are short codes

# A group name is a run of anything but separators: commas, spaces, brackets and quotes.
_GROUP = re.compile(r"[^\s,\[\]\"']+")


def groups_of(value: Any) -> frozenset[str]:
    """The group names in a `cognito:groups` claim, however it is written; empty when unreadable."""
    if isinstance(value, str):
        return frozenset(_GROUP.findall(value))
    if isinstance(value, list | tuple):
        return frozenset(name for item in value if isinstance(item, str) for name in _GROUP.findall(item))
    return frozenset()


def role_of(groups: frozenset[str]) -> Role | None:
    """The most powerful CX role among the groups, or None when the user is in no CX group."""
    return next((role for role in CX_ROLES if role.value in groups), None)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal | None:
    """The principal these (already verified) claims make, or None: no subject, no CX group, or a
    scope the role needs is missing."""
    subject = _text(claims.get(SUBJECT))
    role = role_of(groups_of(claims.get(GROUPS)))
    if subject is None or "@" in subject or role is None:
        return None
    branch, agent_id = _text(claims.get(BRANCH)), _text(claims.get(AGENT_ID))
    if role is Role.CX_ADMIN:
        return Principal(subject=subject, role=role)      # everything CX: no scope to carry
    if role is Role.BRANCH_MANAGER:
        return Principal(subject=subject, role=role, branch=branch) if branch else None
    return Principal(subject=subject, role=role, branch=branch, agent_id=agent_id) if agent_id else None


def id_token_claims(subject: str, role: Role, *, branch: str | None = None,
                    agent_id: str | None = None) -> dict[str, Any]:
    """The claims a CX user's ID token carries for this role and scope (for the local stack's tokens
    and for tests). ValueError for what `principal_from_claims` would refuse."""
    if role not in CX_ROLES:
        raise ValueError(f"a token cannot carry the role {role.value}: only {', '.join(r.value for r in CX_ROLES)}")
    if role is Role.BRANCH_MANAGER and not branch:
        raise ValueError("a branch_manager needs a branch")
    if role is Role.AGENT and not agent_id:
        raise ValueError("an agent needs an agent id")
    claims: dict[str, Any] = {SUBJECT: subject, GROUPS: [role.value]}
    if branch:
        claims[BRANCH] = branch
    if agent_id:
        claims[AGENT_ID] = agent_id
    if principal_from_claims(claims) is None:
        raise ValueError("the subject, branch and agent id must be printable, at most "
                         f"{MAX_VALUE_CHARS} characters, and the subject no email address")
    return claims


def _text(value: Any) -> str | None:
    """A claim's value as a usable string: trimmed, printable, not empty, not overlong."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    return text if 0 < len(text) <= MAX_VALUE_CHARS and text.isprintable() else None
