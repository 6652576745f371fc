"""The CX team's case workspace in the browser (`/cases`, `/cases/{id}`), its decisions, pure: what
an inbox asks for, the order of urgency, the counts per filter, paging, how long is left, the
viewer's time zone, what changed while someone else saved, and the forms' CSRF token.

Who sees which case is not decided here: the inbox lists through the same scope rule as the API
(services/cases.scoped, case_work.scope_of), and a case page reads through the same check.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from chalicelib.domain.case_routing import RoutingTable
from chalicelib.domain.cases import Case, CaseStatus, Owner, OwnerKind, Severity, TimelineEntry
from chalicelib.domain.principal import Principal, Role

PAGE_SIZE = 25
# The most cases one inbox view reads per status group (open ones; resolved ones in the period):
# past it the page says so and asks for a narrower filter (counted work: tests/services assert it).
MAX_READ = 1000
RESOLVED_DAYS = 30                 # the resolved cases shown by default: those opened in the last 30 days
STATUS_TABS = ("active", "open", "in_progress", "overdue", "resolved", "all")
INBOX_PARAMETERS = frozenset({"status", "severity", "owner", "procedure", "branch", "from", "to", "page", "lang"})
SURVEY_HISTORY_DAYS = 400          # the customer's earlier surveys and cases: about a year back
SURVEY_HISTORY_LIMIT = 10
CSRF_PURPOSE = "case-form"


class InvalidInbox(ValueError):
    """A bad inbox parameter; the page says which."""


@dataclass(frozen=True)
class InboxQuery:
    status: str = "active"                 # one of STATUS_TABS
    severity: str | None = None
    owner: str | None = None               # agent:A-12, branch:tokyo-01, ...
    procedure: str | None = None
    branch: str | None = None              # the customer's branch
    from_day: date | None = None           # opened on or after (the viewer's calendar)
    to_day: date | None = None             # opened on or before
    page: int = 1

    def params(self, **changes: str | int | None) -> dict[str, str]:
        """The query as URL parameters (defaults left out), with `changes` applied."""
        values: dict[str, str | int | None] = {
            "status": None if self.status == "active" else self.status, "severity": self.severity,
            "owner": self.owner, "procedure": self.procedure, "branch": self.branch,
            "from": self.from_day.isoformat() if self.from_day else None,
            "to": self.to_day.isoformat() if self.to_day else None, "page": None if self.page == 1 else self.page}
        values.update(changes)
        return {k: str(v) for k, v in values.items() if v not in (None, "")}


def parse_inbox(params: Mapping[str, str] | None) -> InboxQuery:
    params = dict(params or {})
    unknown = sorted(set(params) - INBOX_PARAMETERS)
    if unknown:
        raise InvalidInbox(f"unknown parameter {', '.join(unknown)}")
    status = params.get("status") or "active"
    if status not in STATUS_TABS:
        raise InvalidInbox(f"status is one of {', '.join(STATUS_TABS)}")
    severity = params.get("severity") or None
    if severity is not None and severity not in {s.value for s in Severity}:
        raise InvalidInbox(f"severity is one of {', '.join(s.value for s in Severity)}")
    owner = params.get("owner") or None
    if owner is not None:
        try:
            Owner.parse(owner)
        except ValueError as exc:
            raise InvalidInbox(str(exc)) from exc
    try:
        page = int(params.get("page") or "1")
    except ValueError as exc:
        raise InvalidInbox("page is a whole number") from exc
    if not 1 <= page <= MAX_READ // PAGE_SIZE + 1:
        raise InvalidInbox(f"page is between 1 and {MAX_READ // PAGE_SIZE + 1}")
    from_day, to_day = _day(params, "from"), _day(params, "to")
    if from_day and to_day and from_day > to_day:
        raise InvalidInbox("from is on or before to")
    return InboxQuery(status=status, severity=severity, owner=owner, procedure=params.get("procedure") or None,
                      branch=params.get("branch") or None, from_day=from_day, to_day=to_day, page=page)


def _day(params: Mapping[str, str], name: str) -> date | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInbox(f"{name} is a date, YYYY-MM-DD") from exc


def opened_period(query: InboxQuery, zone: str, *, resolved: bool, today: date) -> tuple[datetime | None,
                                                                                           datetime | None]:
    """The opened-at bounds of a read, in UTC from the viewer's calendar days: the query's period; for
    the resolved cases without one, the last RESOLVED_DAYS days (open cases: all of them)."""
    tz = _zone(zone)
    first = query.from_day or (today - timedelta(days=RESOLVED_DAYS - 1) if resolved else None)
    start = datetime.combine(first, time(), tz) if first else None
    end = datetime.combine(query.to_day + timedelta(days=1), time(), tz) if query.to_day else None
    return start, end


# --- the order of urgency, and the counts

def urgency_key(case: Case, now: datetime) -> tuple[int, float, int, str]:
    """Overdue first, the longest overdue first; then open work by its next deadline (the first
    contact until there was one, then the resolution), the more severe first at the same time;
    resolved cases last, the latest resolved first."""
    if case.status is CaseStatus.RESOLVED:
        resolved = case.resolved_at or case.opened_at
        return 2, -resolved.timestamp(), 0, case.case_id
    if case.overdue(now):
        return 0, case.resolution_due.timestamp(), -case.severity.rank, case.case_id
    return 1, next_deadline(case).timestamp(), -case.severity.rank, case.case_id


def next_deadline(case: Case) -> datetime:
    return case.first_contact_due if case.first_contact_at is None else case.resolution_due


def by_urgency(cases: Iterable[Case], now: datetime) -> list[Case]:
    return sorted(cases, key=lambda c: urgency_key(c, now))


def in_tab(case: Case, tab: str, now: datetime) -> bool:
    if tab == "all":
        return True
    if tab == "resolved":
        return case.status is CaseStatus.RESOLVED
    if tab == "overdue":
        return case.overdue(now)
    if tab == "active":
        return case.status is not CaseStatus.RESOLVED
    return case.status.value == tab


@dataclass(frozen=True)
class Inbox:
    """One page of an inbox: its cases, the counts per tab and per severity, paging."""

    cases: list[Case]
    tab_counts: dict[str, int]
    severity_counts: dict[str, int]
    procedures: list[str]                  # the procedures of the cases read (the filter's choices)
    page: int
    pages: int
    total: int                             # cases matching every filter
    capped: bool                           # a read reached MAX_READ: counts are "at least"


def inbox_page(read: Sequence[Case], query: InboxQuery, now: datetime, *, capped: bool) -> Inbox:
    """The page the query asks for from the cases read (its scope, owner, branch, procedure and
    period already applied by the store): tab and severity counted as facets of each other."""
    tab_counts = {tab: sum(1 for c in read if in_tab(c, tab, now)
                           and (query.severity is None or c.severity.value == query.severity)) for tab in STATUS_TABS}
    in_status = [c for c in read if in_tab(c, query.status, now)]
    severity_counts = {s.value: sum(1 for c in in_status if c.severity is s) for s in Severity}
    matching = by_urgency((c for c in in_status if query.severity is None or c.severity.value == query.severity), now)
    pages = max(1, -(-len(matching) // PAGE_SIZE))
    page = min(query.page, pages)
    return Inbox(cases=matching[(page - 1) * PAGE_SIZE: page * PAGE_SIZE], tab_counts=tab_counts,
                 severity_counts=severity_counts, procedures=sorted({c.procedure for c in read}), page=page,
                 pages=pages, total=len(matching), capped=capped)


# --- time

@dataclass(frozen=True)
class Remaining:
    overdue: bool
    days: int
    hours: int
    minutes: int


def remaining(due: datetime, now: datetime) -> Remaining:
    """How long until `due` (or since, when it passed), in whole minutes."""
    seconds = int((due - now).total_seconds())
    left = abs(seconds) // 60
    return Remaining(overdue=seconds < 0, days=left // 1440, hours=left % 1440 // 60, minutes=left % 60)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local(at: datetime, zone: str) -> datetime:
    return at.astimezone(_zone(zone))


def viewer_timezone(principal: Principal, routing: RoutingTable) -> str:
    """The viewer's zone from the routing table: their own entry (an agent's id, or their subject),
    else their branch's, else central's; UTC when the table says nothing."""
    for person in (principal.agent_id, principal.subject):
        point = routing.people.get(person or "")
        if point is not None and point.timezone != "UTC":
            return point.timezone
    branch = routing.branches.get(principal.branch or "")
    if branch is not None and branch.contact.timezone != "UTC":
        return branch.contact.timezone
    return routing.central.timezone


# --- who the case may go to

def assignable_owners(principal: Principal, routing: RoutingTable) -> list[Owner]:
    """The owners this principal may give a case to (case_work.may_assign): a CX admin every active
    agent, branch queue and the central queue; a branch manager their branch's queue and agents; an
    agent nobody."""
    if principal.role is Role.AGENT:
        return []
    agents = [Owner(OwnerKind.AGENT, a) for a, agent in sorted(routing.agents.items()) if agent.active]
    queues = [Owner(OwnerKind.BRANCH, b) for b in sorted(routing.branches)]
    if principal.role is Role.BRANCH_MANAGER:
        mine = principal.branch
        return [o for o in queues + agents if routing.branch_of(o) == mine]
    return [*queues, *agents, Owner(OwnerKind.CENTRAL, routing.central_queue)]


# --- what changed while the form was open

@dataclass(frozen=True)
class Seen:
    """What a form was filled in on: the case's version and how many timeline entries it showed."""

    version: int
    entries: int


def changed_since(case: Case, seen: Seen) -> list[TimelineEntry]:
    """The timeline entries someone else added after the form was drawn (the conflict banner)."""
    return list(case.timeline[seen.entries:]) if seen.entries <= len(case.timeline) else []


# --- the forms' CSRF token

def session_fingerprint(session_token: str) -> str:
    """What a form's CSRF token is bound to: a hash of the session cookie (the cookie itself never
    appears in a page)."""
    return hashlib.sha256(session_token.encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class FormProblem:
    field: str
    problem: str


@dataclass(frozen=True)
class FormOutcome:
    """A posted case form that was refused: which action, why, and what the person typed (shown again)."""

    action: str
    status: int = 200
    kind: str = ""                          # conflict, invalid, refused, forbidden, expired
    problems: list[FormProblem] = field(default_factory=list)
    kept: Mapping[str, str] = field(default_factory=dict)      # what the person typed, shown again


def read_form(raw: bytes | str | None, fields: frozenset[str], *, max_bytes: int, max_chars: int) -> dict[str, str]:
    """A posted form's fields (others ignored), read strictly: ValueError for a body over `max_bytes`,
    not UTF-8, a field given twice, or a value over `max_chars`."""
    data = raw.encode("utf-8") if isinstance(raw, str) else (raw or b"")
    if len(data) > max_bytes:
        raise ValueError(f"the form is over {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError("the form is not UTF-8") from exc
    form: dict[str, str] = {}
    for name, value in parse_qsl(text, keep_blank_values=True, errors="strict"):
        if name not in fields:
            continue
        if name in form:
            raise ValueError(f"{name} is given more than once")
        if len(value) > max_chars:
            raise ValueError(f"{name} is over {max_chars} characters")
        form[name] = value
    return form
