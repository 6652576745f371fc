"""A follow-up case: a detractor's survey that someone owns, works within business-hour deadlines,
and closes with a recorded cause. Plain data; what may happen to a case lives in
`domain/case_work.py` (people) and `domain/case_ladder.py` (the schedule).

Every change to a stored case carries the `version` it read: a store writes it only if the case is
still at that version (optimistic locking), so two people saving one case never lose an update.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from chalicelib.domain.model import Place

ROBOT = "koe"       # the actor of what koe does by itself on the timeline (opened, reminded, ...)


class CaseStatus(StrEnum):
    OPEN = "open"                   # waiting for its owner
    IN_PROGRESS = "in_progress"     # claimed: someone is working it
    RESOLVED = "resolved"           # closed with a root cause and an action


class Severity(StrEnum):
    NORMAL = "normal"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


def most_severe(severities: list[Severity]) -> Severity:
    return max(severities, key=lambda s: s.rank, default=Severity.NORMAL)


class OwnerKind(StrEnum):
    AGENT = "agent"       # the agent who served the customer
    BRANCH = "branch"     # the branch's queue
    CENTRAL = "central"   # the central CX queue
    PERSON = "person"     # a CX staff member who claimed it (their subject)


@dataclass(frozen=True)
class Owner:
    kind: OwnerKind
    id: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Owner:
        """`agent:A-12`, `branch:tokyo-01`, `central:cx` or `person:<subject>`; ValueError otherwise."""
        kind, sep, ident = text.partition(":")
        if not sep or not ident or kind not in OwnerKind.__members__.values():
            raise ValueError(f"an owner is agent:<id>, branch:<id>, central:<id> or person:<id>, got {text!r}")
        return cls(OwnerKind(kind), ident)


COMMENT_AT = "comment_at"     # a later comment's timeline entry: when the comment was received


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a case: who did it, when, and its details (codes, not prose)."""

    at: datetime
    kind: str            # opened, comment, reminder, first_contact_overdue, breach, lead, claimed, ...
    actor: str           # ROBOT, or the principal's subject
    detail: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CaseComment:
    """One comment the customer sent about the survey, when it was received: a case keeps each."""

    at: datetime
    text: str


@dataclass(frozen=True)
class LadderStep:
    """One rung of the escalation ladder, planned when the case opens (domain/case_ladder.py)."""

    name: str            # first_contact_overdue, reminder, breach, lead
    at: datetime
    to: str              # owner, manager or lead: whom it alerts


@dataclass(frozen=True)
class Case:
    case_id: str                    # = survey_id: one case per survey
    survey_id: str
    procedure: str
    customer_id: str
    score: int
    opened_at: datetime
    first_contact_due: datetime
    resolution_due: datetime
    context: dict[str, str]         # frozen at send time: branch, agent_id, ...
    phone_masked: str | None
    comment: str | None = None      # the latest comment (what the follow-up message and alerts carry)
    locale: str = "en"
    channel: str = ""               # the survey's channel, read when the closing message is sent
    severity: Severity = Severity.NORMAL
    reasons: tuple[str, ...] = ()   # which rules opened it: score, keyword, repeat, sentiment
    callback_consent: bool | None = None   # the customer said they may (True) or may not be called
    owner: Owner = Owner(OwnerKind.CENTRAL, "cx")
    # The branch whose queue the owner works in, decided when the case gets its owner
    # (domain/case_work.py): a branch queue's, an agent's branch, the branch of the manager who
    # claimed it; None for central, a CX admin, an agent of no branch. With `branch` (the
    # customer's), it is what a branch manager sees: case_work.branches_of.
    owner_branch: str | None = None
    customer_timezone: str = "UTC"  # = customer_place's zone (a case from before places: its locale's)
    owner_timezone: str = "UTC"
    customer_place: Place | None = None     # the survey's: business hours, holidays, closing message
    status: CaseStatus = CaseStatus.OPEN
    version: int = 1
    timeline: tuple[TimelineEntry, ...] = ()
    ladder: tuple[LadderStep, ...] = ()
    ladder_next: int = 0            # index of the next rung; len(ladder) when none is left
    first_contact_at: datetime | None = None
    root_cause: str | None = None
    action: str | None = None
    resolved_at: datetime | None = None
    closing: str | None = None      # the closing message to the customer: due, sent, skipped, failed
    closing_at: datetime | None = None      # when it is due (inside the customer's send window)
    resurvey_at: datetime | None = None     # when the customer is asked again
    resurvey_id: str | None = None          # the survey that asked again
    recovered: bool | None = None   # that survey's answer: passive or promoter (True), detractor (False)
    expires_at: datetime | None = None      # retention: set at resolution, cleared on reopen
    follow_up_queued: bool = False
    alert_published: bool = False
    comments: tuple[CaseComment, ...] = ()   # every comment, oldest first (cases from before: none)

    def has_comment(self, at: datetime) -> bool:
        """The comment received at `at` is on the case already (a replayed stream record)."""
        return any(c.at == at for c in self.comments)

    def opened_with(self, at: datetime) -> bool:
        """The comment received at `at` came with the score the case opened on: it was announced
        with the case, not added later (each later one is timed on its timeline entry). A case whose
        later comments were not timed (written before they were) says no: announcing again is the
        old behaviour, and its alert id delivers it once."""
        if not self.has_comment(at):
            return False
        added = [e.detail.get(COMMENT_AT) for e in self.timeline if e.kind == "comment"]
        return None not in added and at.isoformat() not in added

    @property
    def sla_due(self) -> datetime:
        """"Call back by": the first-contact deadline (the follow-up message's `sla_due`)."""
        return self.first_contact_due

    @property
    def branch(self) -> str | None:
        return self.context.get("branch")

    @property
    def agent_id(self) -> str | None:
        return self.context.get("agent_id")

    @property
    def next_step(self) -> LadderStep | None:
        if self.status is CaseStatus.RESOLVED or self.ladder_next >= len(self.ladder):
            return None
        return self.ladder[self.ladder_next]

    @property
    def next_step_at(self) -> datetime | None:
        step = self.next_step
        return step.at if step else None

    @property
    def work_due_at(self) -> datetime | None:
        """When the schedule next has something to do on this case: the next ladder rung, the
        closing message, the re-survey (None: nothing)."""
        times = [self.next_step_at, self.closing_at if self.closing == "due" else None,
                 self.resurvey_at if self.resurvey_id is None else None]
        return min((t for t in times if t is not None), default=None)

    def overdue(self, now: datetime) -> bool:
        """Past its resolution deadline and not resolved."""
        return self.status is not CaseStatus.RESOLVED and now >= self.resolution_due
