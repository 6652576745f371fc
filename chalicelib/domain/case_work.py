"""What people do with a case, and who may: claim, assign, record contact attempts, resolve, reopen.

Each move takes the case as read and returns the case to write, with the move on its timeline; the
store writes it only at the version read (optimistic locking). A move the case's state does not
allow raises CaseRefused (409 at the API). Who may see a case is one rule, `scope_of`, used to read
a case and to list them (the store is asked for exactly that scope): `cx_admin` every case, a
`branch_manager` their branch's — its customers' cases and the cases in its queue (owned by the
branch queue, one of its agents, or the manager who claimed it: `Case.owner_branch`) — and an
`agent` the cases they own; a case someone may not see does not exist for them (404, never 403: no
existence leak).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain.case_ladder import Deadlines
from chalicelib.domain.case_routing import RoutingTable
from chalicelib.domain.cases import Case, CaseStatus, Owner, OwnerKind, TimelineEntry
from chalicelib.domain.principal import Principal, Role

CONTACT_OUTCOMES = ("reached", "no_answer", "left_message")
MAX_NOTE_CHARS = 2000               # a note on a case: a few paragraphs, not a transcript
REVEAL_SHOWN_FOR = timedelta(minutes=15)   # how long a revealed number stays on its viewer's page
CONTACT_DETAILS = ("phone", "email")


class CaseRefused(ValueError):
    """The case's state does not allow the move (resolving a resolved case, claiming one you own)."""


class NotAllowed(ValueError):
    """The principal sees the case but their role may not make this move (an agent assigning)."""


@dataclass(frozen=True)
class Code:
    code: str
    labels: Mapping[str, str]            # language -> label, for the CX UI


DEFAULT_ROOT_CAUSES = (
    Code("claim_delay", {"en": "Claim or payment delay", "ja": "支払・手続きの遅れ", "zh": "理赔或付款延迟"}),
    Code("explanation", {"en": "Unclear explanation", "ja": "説明不足", "zh": "解释不清"}),
    Code("staff_conduct", {"en": "Staff conduct", "ja": "担当者の対応", "zh": "员工态度"}),
    Code("process", {"en": "Complicated procedure", "ja": "手続きが煩雑", "zh": "手续繁琐"}),
    Code("product_terms", {"en": "Product or policy terms", "ja": "商品・約款の内容", "zh": "产品或条款"}),
    Code("system", {"en": "System or website issue", "ja": "システム・サイトの不具合", "zh": "系统或网站问题"}),
    Code("other", {"en": "Other", "ja": "その他", "zh": "其他"}),
)
DEFAULT_ACTIONS = (
    Code("apologised", {"en": "Apologised", "ja": "お詫び", "zh": "致歉"}),
    Code("explained", {"en": "Explained again", "ja": "再説明", "zh": "重新解释"}),
    Code("expedited", {"en": "Expedited the procedure", "ja": "手続きを迅速化", "zh": "加快办理"}),
    Code("payment", {"en": "Payment or refund made", "ja": "支払・返金を実施", "zh": "已付款或退款"}),
    Code("process_fixed", {"en": "Process corrected", "ja": "業務プロセスを改善", "zh": "改进流程"}),
    Code("coaching", {"en": "Staff coaching", "ja": "担当者への指導", "zh": "员工辅导"}),
    Code("no_action", {"en": "No action possible", "ja": "対応不可", "zh": "无法处理"}),
)


@dataclass(frozen=True)
class CaseCodes:
    root_causes: tuple[Code, ...] = DEFAULT_ROOT_CAUSES
    actions: tuple[Code, ...] = DEFAULT_ACTIONS

    def check(self, root_cause: str, action: str) -> list[dict[str, str]]:
        """Problems with a resolution's codes (empty when both are configured codes)."""
        problems = []
        if root_cause not in {c.code for c in self.root_causes}:
            problems.append({"field": "root_cause", "problem": "is not a configured root cause code"})
        if action not in {c.code for c in self.actions}:
            problems.append({"field": "action", "problem": "is not a configured action code"})
        return problems


# --- who may see and do what

@dataclass(frozen=True)
class CaseScope:
    """The cases a principal may see: every case, a branch's (`branches_of`), or one owner's; none
    of these: nothing."""

    everything: bool = False
    branch: str | None = None
    owner: str | None = None          # "agent:A-12"

    def covers(self, case: Case) -> bool:
        if self.everything:
            return True
        if self.branch is not None:
            return self.branch in branches_of(case)
        return self.owner is not None and str(case.owner) == self.owner


def branches_of(case: Case) -> frozenset[str]:
    """The branches a case belongs to: its customer's (`branch`) and its owner's queue's."""
    return frozenset(b for b in (case.branch, case.owner_branch) if b)


def scope_of(principal: Principal) -> CaseScope:
    if principal.role is Role.CX_ADMIN:
        return CaseScope(everything=True)
    if principal.role is Role.BRANCH_MANAGER and principal.branch:
        return CaseScope(branch=principal.branch)
    if principal.role is Role.AGENT and principal.agent_id:
        return CaseScope(owner=str(Owner(OwnerKind.AGENT, principal.agent_id)))
    return CaseScope()


def visible(principal: Principal, case: Case) -> bool:
    return scope_of(principal).covers(case)


def may_assign(principal: Principal, owner: Owner, routing: RoutingTable) -> bool:
    """cx_admin: to anyone who can own a case; branch_manager: within their branch; agent: never."""
    if not routing.can_own(owner):
        return False
    if principal.role is Role.CX_ADMIN:
        return True
    if principal.role is Role.BRANCH_MANAGER:
        return routing.branch_of(owner) == principal.branch
    return False


def owner_of(principal: Principal) -> Owner:
    """Who owns a case a principal claims: an agent as the agent, anyone else as themselves."""
    if principal.role is Role.AGENT and principal.agent_id:
        return Owner(OwnerKind.AGENT, principal.agent_id)
    return Owner(OwnerKind.PERSON, principal.subject)


def newest_first(cases: Iterable[Case]) -> list[Case]:
    """The cases by when they were opened, the newest first (then by id: a case list's order)."""
    return sorted(cases, key=lambda c: (c.opened_at, c.case_id), reverse=True)


def most_overdue_first(cases: Iterable[Case]) -> list[Case]:
    """The cases by their resolution deadline, the longest past it first (then by id: a stable order)."""
    return sorted(cases, key=lambda c: (c.resolution_due, c.case_id))


# --- the moves

@dataclass(frozen=True)
class Resolution:
    root_cause: str
    action: str
    retention: timedelta = timedelta(days=400)
    closing_at: datetime | None = None       # None: no closing message (off, or already sent)
    resurvey_at: datetime | None = None


def _entry(case: Case, now: datetime, kind: str, actor: Principal, **detail: str) -> tuple[TimelineEntry, ...]:
    return case.timeline + (TimelineEntry(now, kind, actor.subject, detail),)


def _open_or_refuse(case: Case, move: str) -> None:
    if case.status is CaseStatus.RESOLVED:
        raise CaseRefused(f"the case is resolved: reopen it before you {move} it")


def claim(case: Case, principal: Principal, now: datetime, owner_timezone: str) -> Case:
    """The principal owns it: a branch manager in their branch's queue (the case stays in their
    scope), an agent as the agent (in the queue it was in), anyone else outside any branch's."""
    _open_or_refuse(case, "claim")
    owner = owner_of(principal)
    if case.owner == owner and case.status is CaseStatus.IN_PROGRESS:
        raise CaseRefused("you already own this case")
    queue = {Role.BRANCH_MANAGER: principal.branch, Role.AGENT: case.owner_branch}.get(principal.role)
    return replace(case, owner=owner, owner_branch=queue, owner_timezone=owner_timezone,
                   status=CaseStatus.IN_PROGRESS, timeline=_entry(case, now, "claimed", principal, owner=str(owner)))


def assign(case: Case, owner: Owner, principal: Principal, now: datetime, owner_timezone: str,
           routing: RoutingTable) -> Case:
    """Give the case to `owner`, in the queue of the owner's branch (routing table) if any."""
    _open_or_refuse(case, "assign")
    if case.owner == owner:
        raise CaseRefused(f"the case is already owned by {owner}")
    return replace(case, owner=owner, owner_branch=routing.branch_of(owner), owner_timezone=owner_timezone,
                   status=CaseStatus.OPEN,
                   timeline=_entry(case, now, "assigned", principal, owner=str(owner), previous=str(case.owner)))


def contact_attempt(case: Case, outcome: str, principal: Principal, now: datetime, note: str = "") -> Case:
    """A call (or message) to the customer: the first one, whatever its outcome, is the first contact."""
    _open_or_refuse(case, "record a contact attempt on")
    if outcome not in CONTACT_OUTCOMES:
        raise ValueError(f"outcome is one of {', '.join(CONTACT_OUTCOMES)}")
    status = CaseStatus.IN_PROGRESS if case.status is CaseStatus.OPEN else case.status
    detail = {"outcome": outcome, **({"note": note} if note else {})}
    return replace(case, status=status, first_contact_at=case.first_contact_at or now,
                   timeline=_entry(case, now, "contact_attempt", principal, **detail))


def add_note(case: Case, text: str, principal: Principal, now: datetime) -> Case:
    """A note for whoever works the case next (any state: a resolved case can be annotated too)."""
    if not text.strip():
        raise ValueError("a note has text")
    return replace(case, timeline=_entry(case, now, "note", principal, note=text))


def read_note(raw: object, *, required: bool) -> str:
    """A note as stored: blanks around it removed, Windows line ends as \\n; ValueError when it is
    required and empty, too long, or not text."""
    if raw is None:
        raw = ""
    if not isinstance(raw, str):
        raise ValueError("a note is text")
    text = raw.replace("\r\n", "\n").strip()
    if required and not text:
        raise ValueError("a note has text")
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(f"a note is at most {MAX_NOTE_CHARS} characters")
    return text


# --- calling the customer back

def may_reveal(principal: Principal, case: Case) -> bool:
    """Only the case's owner sees the customer's number or address, and only while the case is open:
    claim it first. Who else may look is nobody: every look is on the timeline (`reveal`)."""
    return case.status is not CaseStatus.RESOLVED and case.owner == owner_of(principal)


def reveal(case: Case, what: tuple[str, ...], principal: Principal, now: datetime) -> Case:
    """The owner looked at the customer's contact details (`what`: phone, email): on the timeline."""
    if not may_reveal(principal, case):
        raise NotAllowed("only the case's owner may see the customer's contact details, while it is open")
    if not what or set(what) - set(CONTACT_DETAILS):
        raise ValueError(f"what is shown is one or more of {', '.join(CONTACT_DETAILS)}")
    return replace(case, timeline=_entry(case, now, "contact_revealed", principal, shown=",".join(what)))


def revealed_to(case: Case, principal: Principal, now: datetime) -> bool:
    """Whether the principal revealed the contact details within REVEAL_SHOWN_FOR (and still may)."""
    return may_reveal(principal, case) and any(
        e.kind == "contact_revealed" and e.actor == principal.subject and now - e.at < REVEAL_SHOWN_FOR
        for e in case.timeline)


def resolve(case: Case, resolution: Resolution, principal: Principal, now: datetime) -> Case:
    _open_or_refuse(case, "resolve")
    detail = {"root_cause": resolution.root_cause, "action": resolution.action}
    return replace(
        case, status=CaseStatus.RESOLVED, root_cause=resolution.root_cause, action=resolution.action,
        resolved_at=now, expires_at=now + resolution.retention,
        closing="due" if resolution.closing_at else case.closing,
        closing_at=resolution.closing_at or case.closing_at,
        resurvey_at=resolution.resurvey_at if case.resurvey_id is None else case.resurvey_at,
        timeline=_entry(case, now, "resolved", principal, **detail))


def reopen(case: Case, deadlines: Deadlines, principal: Principal, now: datetime) -> Case:
    """Back to work with new deadlines and a new ladder; the retention clock stops. A closing message
    not yet sent is held back; one already sent is not sent again."""
    if case.status is not CaseStatus.RESOLVED:
        raise CaseRefused("only a resolved case can be reopened")
    return replace(
        case, status=CaseStatus.OPEN, resolved_at=None, root_cause=None, action=None, expires_at=None,
        first_contact_due=deadlines.first_contact_due, resolution_due=deadlines.resolution_due,
        ladder=deadlines.ladder, ladder_next=0,
        closing="held" if case.closing == "due" else case.closing,
        resurvey_at=None if case.resurvey_id is None else case.resurvey_at,
        timeline=_entry(case, now, "reopened", principal, previous_root_cause=case.root_cause or ""))
