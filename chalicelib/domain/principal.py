"""Who is calling koe's API: a principal with a role and, for CX staff, a scope.

Authentication (chalicelib/auth.py) turns credentials into a Principal; each route names the roles
it is open to (chalicelib/http.py). Plain data: the rules of what a role may see live with the use
cases that need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    OPERATIONS = "operations"          # operations systems: post events, read scores
    CX_ADMIN = "cx_admin"              # the CX team's leads: everything on the CX side
    BRANCH_MANAGER = "branch_manager"  # one branch's cases and scores
    AGENT = "agent"                    # their own cases


@dataclass(frozen=True)
class Principal:
    subject: str                 # a stable id for logs and audit: never a secret or a personal address
    role: Role
    branch: str | None = None    # a branch manager's (or agent's) branch
    agent_id: str | None = None  # an agent's own id


def narrowed(principal: Principal, branch: str | None, agent_id: str | None) -> tuple[str | None, str | None] | None:
    """The branch and agent filters of a CX read within the principal's scope (a branch manager's
    branch, an agent's own id); None when a filter asked for lies outside it (the read shows nothing)."""
    if principal.role is Role.BRANCH_MANAGER:
        return (principal.branch, agent_id) if branch in (None, principal.branch) else None
    if principal.role is Role.AGENT:
        return (branch, principal.agent_id) if agent_id in (None, principal.agent_id) else None
    return branch, agent_id
