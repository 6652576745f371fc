"""Who owns a case, who is told, and how to reach them: the routing table (KOE_CASE_ROUTING).

Owner routing reads the survey's frozen context (the agent and branch at send time): the agent
while they are active in the table, else the agent's branch queue, else central — never nobody.
The ladder climbs from the owner to the branch's manager, then to the CX lead.

Recipients are addressed as `agent:<id>`, `branch:<id>`, `person:<id>` or `central`; each resolves
to a contact point (an email and/or a chat webhook, a language and a time zone) from the table.

    {"central": {"queue": "cx", "lead": "cx-lead", "email": "cx@example.jp", "language": "ja",
                 "timezone": "Asia/Tokyo"},
     "branches": {"tokyo-01": {"manager": "mgr-tokyo", "email": "tokyo@example.jp",
                               "chat": "https://chat.example.jp/hooks/T1", "timezone": "Asia/Tokyo"}},
     "agents": {"A-12": {"branch": "tokyo-01", "active": true}},
     "people": {"A-12": {"email": "a12@example.jp", "language": "ja"},
                "mgr-tokyo": {"email": "mgr@example.jp"}, "cx-lead": {"chat": "https://..."}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.domain.cases import Case, Owner, OwnerKind
from chalicelib.domain.languages import LANGUAGES

CENTRAL = "central"


class InvalidRouting(ValueError):
    """The routing table cannot be read; says where."""


@dataclass(frozen=True)
class ContactPoint:
    """How one recipient is reached: by email, by chat webhook (Slack-compatible), or both."""

    email: str | None = None
    chat: str | None = None
    language: str = "en"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Branch:
    manager: str | None = None       # a person id
    contact: ContactPoint = ContactPoint()


@dataclass(frozen=True)
class Agent:
    branch: str | None = None
    active: bool = True


@dataclass(frozen=True)
class RoutingTable:
    central_queue: str = "cx"
    lead: str | None = None                        # the CX lead (a person id): the ladder's top
    central: ContactPoint = ContactPoint()
    branches: Mapping[str, Branch] = field(default_factory=dict)
    agents: Mapping[str, Agent] = field(default_factory=dict)
    people: Mapping[str, ContactPoint] = field(default_factory=dict)

    # --- who owns a new case
    def route(self, context: Mapping[str, str]) -> Owner:
        """Agent (active, known) -> the branch queue (known) -> central; never nobody."""
        agent_id = context.get("agent_id")
        agent = self.agents.get(agent_id) if agent_id else None
        if agent_id and agent is not None and agent.active:
            return Owner(OwnerKind.AGENT, agent_id)
        branch = context.get("branch") or (agent.branch if agent else None)
        if branch and branch in self.branches:
            return Owner(OwnerKind.BRANCH, branch)
        return Owner(OwnerKind.CENTRAL, self.central_queue)

    def can_own(self, owner: Owner) -> bool:
        """Whether a case may be assigned to `owner`: an active agent, a known branch, or central."""
        if owner.kind is OwnerKind.AGENT:
            agent = self.agents.get(owner.id)
            return agent is not None and agent.active
        if owner.kind is OwnerKind.BRANCH:
            return owner.id in self.branches
        if owner.kind is OwnerKind.PERSON:
            return bool(owner.id)
        return owner.id == self.central_queue

    def branch_of(self, owner: Owner) -> str | None:
        if owner.kind is OwnerKind.BRANCH:
            return owner.id
        if owner.kind is OwnerKind.AGENT:
            agent = self.agents.get(owner.id)
            return agent.branch if agent else None
        return None

    # --- whom each rung of the ladder tells
    def recipients(self, case: Case, to: str) -> tuple[str, ...]:
        """`owner`: the case's owner; `manager`: the branch's manager (central when the branch has
        none); `lead`: the CX lead (central when none is configured)."""
        if to == "owner":
            return (self._owner_address(case.owner),)
        if to == "manager":
            branch = self.branches.get(case.branch or "") or self.branches.get(self.branch_of(case.owner) or "")
            return (f"person:{branch.manager}",) if branch and branch.manager else (CENTRAL,)
        if to == "lead":
            return (f"person:{self.lead}",) if self.lead else (CENTRAL,)
        raise ValueError(f"no such ladder recipient: {to!r}")

    def _owner_address(self, owner: Owner) -> str:
        if owner.kind is OwnerKind.CENTRAL:
            return CENTRAL
        return f"{owner.kind.value}:{owner.id}"

    def contact_point(self, address: str) -> ContactPoint | None:
        """The contact point of a recipient address; None when the table does not know it."""
        kind, _, ident = address.partition(":")
        if address == CENTRAL:
            return self.central
        if kind in ("agent", "person"):
            return self.people.get(ident)
        if kind == "branch":
            branch = self.branches.get(ident)
            return branch.contact if branch else None
        return None

    def owner_timezone(self, owner: Owner, fallback: str) -> str:
        point = self.contact_point(self._owner_address(owner))
        if point and point.timezone != "UTC":
            return point.timezone
        branch = self.branches.get(self.branch_of(owner) or "")
        if branch and branch.contact.timezone != "UTC":
            return branch.contact.timezone
        return self.central.timezone if self.central.timezone != "UTC" else fallback


def parse(raw: Mapping[str, Any]) -> RoutingTable:
    """The routing table from its JSON object; InvalidRouting naming the entry otherwise."""
    def obj(value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise InvalidRouting(f"{where} must be an object")
        return value

    def point(value: Any, where: str) -> ContactPoint:
        entry = obj(value, where)
        language = str(entry.get("language", "en"))
        if language not in LANGUAGES:
            raise InvalidRouting(f"{where}.language must be one of {', '.join(LANGUAGES)}")
        chat = entry.get("chat")
        if chat is not None and not str(chat).startswith(("https://", "http://")):
            raise InvalidRouting(f"{where}.chat must be an http(s) URL")
        return ContactPoint(email=entry.get("email"), chat=chat, language=language,
                            timezone=str(entry.get("timezone", "UTC")))

    unknown = set(raw) - {"central", "branches", "agents", "people"}
    if unknown:
        raise InvalidRouting(f"unknown keys: {', '.join(sorted(unknown))}")
    central = obj(raw.get("central", {}), "central")
    return RoutingTable(
        central_queue=str(central.get("queue", "cx")),
        lead=central.get("lead"),
        central=point(central, "central"),
        branches={name: Branch(manager=obj(b, f"branches.{name}").get("manager"),
                               contact=point(b, f"branches.{name}"))
                  for name, b in obj(raw.get("branches", {}), "branches").items()},
        agents={name: Agent(branch=obj(a, f"agents.{name}").get("branch"), active=bool(a.get("active", True)))
                for name, a in obj(raw.get("agents", {}), "agents").items()},
        people={name: point(p, f"people.{name}") for name, p in obj(raw.get("people", {}), "people").items()},
    )
