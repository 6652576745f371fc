"""The CX team works cases in the browser: the inbox (`GET /cases`), a case page (`GET /cases/{id}`)
and every move of the case API as a plain form (`POST /cases/{id}/{action}`), in ja/zh/en.

Signed in as the dashboard is (services/dashboard.py: the session cookie; without one, the sign-in,
which comes back to the page asked for). What a person sees and may do is what the API lets the
same principal see and do: lists through services/cases.scoped, reads through the same check (a
case outside the scope is "no such case", 404), moves through services/cases.work at the version
the form was drawn on. A stale form is a 409 page that shows what the other person changed and
keeps what this person typed: never a lost update.

Every form carries a CSRF token bound to the session (a hash of the session cookie, signed with the
link keys, domain/case_workspace.py); the session cookie is SameSite=Lax, HttpOnly.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

from chalicelib.domain import case_work, case_workspace, dashboard
from chalicelib.domain.case_workspace import CSRF_PURPOSE, InboxQuery, InvalidInbox, Seen
from chalicelib.domain.cases import Case, CaseStatus
from chalicelib.domain.model import Survey
from chalicelib.domain.principal import Principal, Role
from chalicelib.domain.send_window import SendHours
from chalicelib.domain.survey_token import LinkKeys, TamperedToken
from chalicelib.domain.web_survey import LANGUAGES, masked_address, page_language, preferred_language
from chalicelib.errors import CaseNotFound, Forbidden, InvalidCaseState, InvalidRequest, VersionConflict
from chalicelib.observability import count, logger
from chalicelib.services import cases
from chalicelib.services.dashboard import DashboardDeps, Screen, Visit, message, signed_in
from chalicelib.services.ports import CaseQuery

FORM_FIELDS = frozenset({"csrf", "version", "seen", "lang", "owner", "outcome", "note", "text", "root_cause",
                         "action"})
MAX_FORM_BYTES = 16_384
MAX_FIELD_CHARS = 4_000


@dataclass(frozen=True)
class WorkspaceDeps:
    dashboard: DashboardDeps                 # sessions, sign-in, pages, the dashboard's URL
    cases: cases.CaseDeps
    hours: SendHours                         # the customer's send window now
    link_keys: Callable[[], LinkKeys]        # the forms' CSRF tokens

    @property
    def cases_url(self) -> str:
        return self.dashboard.dashboard_url.removesuffix("/dashboard") + "/cases"


@dataclass(frozen=True)
class Viewer:
    principal: Principal
    language: str
    timezone: str
    csrf: str


# --- the inbox

def open_inbox(visit: Visit, deps: WorkspaceDeps) -> Screen:
    found = _viewer(visit, deps, "/cases" + _query_string(visit.params))
    if isinstance(found, Screen):
        return found
    viewer = found
    try:
        query = case_workspace.parse_inbox(visit.params)
    except InvalidInbox as exc:
        return message(deps.dashboard, 400, viewer.language, "invalid", str(exc))
    now = deps.cases.clock()
    read, capped = _read_inbox(viewer, query, now, deps)
    inbox = case_workspace.inbox_page(read, query, now, capped=capped)
    count("CaseInboxViewed", role=viewer.principal.role.value)
    view = {
        **_common(viewer, deps),
        "query": query.params(), "status": query.status, "severity": query.severity,
        "filters": {"owner": query.owner, "procedure": query.procedure, "branch": query.branch,
                    "from": query.from_day.isoformat() if query.from_day else "",
                    "to": query.to_day.isoformat() if query.to_day else ""},
        "tabs": [{"tab": tab, "n": inbox.tab_counts[tab], "href": _inbox_href(deps, viewer, query, status=tab)}
                 for tab in case_workspace.STATUS_TABS],
        "severities": [{"severity": s, "n": n, "href": _inbox_href(deps, viewer, query, severity=s)}
                       for s, n in inbox.severity_counts.items()],
        "any_severity_href": _inbox_href(deps, viewer, query, severity=None),
        "owners": [str(o) for o in case_workspace.assignable_owners(viewer.principal, deps.cases.policy.routing)],
        "branches": _branch_choices(viewer.principal, deps),
        "procedures": inbox.procedures,
        "cases": [_row(c, now, viewer, deps) for c in inbox.cases],
        "page": inbox.page, "pages": inbox.pages, "total": inbox.total, "capped": inbox.capped,
        "max_read": case_workspace.MAX_READ,
        "previous_href": _inbox_href(deps, viewer, query, page=inbox.page - 1) if inbox.page > 1 else None,
        "next_href": _inbox_href(deps, viewer, query, page=inbox.page + 1) if inbox.page < inbox.pages else None,
        "languages_href": {lang: _inbox_href(deps, replace(viewer, language=lang), query) for lang in LANGUAGES},
    }
    return Screen(200, deps.dashboard.pages.render("inbox", viewer.language, view))


def _read_inbox(viewer: Viewer, query: InboxQuery, now: datetime, deps: WorkspaceDeps) -> tuple[list[Case], bool]:
    """The cases the inbox counts: the open ones (in the period, if one is given) and the resolved
    ones opened in the period (the last 30 days by default), in the viewer's scope, each read up to
    MAX_READ; True when a read reached it."""
    today = case_workspace.local(now, viewer.timezone).date()
    found: list[Case] = []
    capped = False
    for statuses, resolved in ((cases.OPEN_STATUSES, False), (frozenset({CaseStatus.RESOLVED.value}), True)):
        opened_from, opened_before = case_workspace.opened_period(query, viewer.timezone, resolved=resolved,
                                                                   today=today)
        scoped = cases.scoped(viewer.principal, CaseQuery(
            status=statuses, owner=query.owner, branch=query.branch, procedure=query.procedure,
            opened_from=opened_from, opened_before=opened_before, limit=cases.MAX_LIMIT))
        read: list[Case] = []
        while scoped is not None and len(read) < case_workspace.MAX_READ:
            page = deps.cases.cases.list_cases(scoped)
            read += [c for c in page.cases if case_work.visible(viewer.principal, c)]
            scoped = replace(scoped, cursor=page.cursor) if page.cursor else None
        capped = capped or scoped is not None
        found += read[:case_workspace.MAX_READ]
    return found, capped


def _row(case: Case, now: datetime, viewer: Viewer, deps: WorkspaceDeps) -> dict[str, Any]:
    due = case_workspace.next_deadline(case)
    return {
        "case_id": case.case_id, "href": _case_href(deps, case.case_id, viewer.language),
        "status": case.status.value, "severity": case.severity.value, "overdue": case.overdue(now),
        "score": case.score, "procedure": case.procedure, "branch": case.branch, "owner": str(case.owner),
        "reasons": list(case.reasons), "comment": case.comment,
        "opened": _time(case.opened_at, viewer.timezone),
        "due_kind": "resolution" if case.first_contact_at is not None or case.overdue(now) else "first_contact",
        "due": _time(case.resolution_due if case.overdue(now) else due, viewer.timezone),
        "left": _left(case.resolution_due if case.overdue(now) else due, now),
        "resolved": _time(case.resolved_at, viewer.timezone) if case.resolved_at else None,
    }


def _branch_choices(principal: Principal, deps: WorkspaceDeps) -> list[str]:
    if principal.role is Role.CX_ADMIN:
        return sorted(deps.cases.policy.routing.branches)
    return []


# --- a case

def open_case(visit: Visit, case_id: str, deps: WorkspaceDeps) -> Screen:
    found = _viewer(visit, deps, f"/cases/{quote(case_id, safe='')}" + _query_string(visit.params))
    if isinstance(found, Screen):
        return found
    viewer = found
    unknown = sorted(set(visit.params or {}) - {"lang", "done"})
    if unknown:
        return message(deps.dashboard, 400, viewer.language, "invalid", f"unknown parameter {', '.join(unknown)}")
    try:
        case = cases.visible_case(viewer.principal, case_id, deps.cases)
    except (CaseNotFound, InvalidRequest):
        return message(deps.dashboard, 404, viewer.language, "no_case")
    done = (visit.params or {}).get("done")
    return _case_screen(viewer, case, deps, 200, done=done if done in cases.ACTIONS else None)


def _case_screen(viewer: Viewer, case: Case, deps: WorkspaceDeps, status: int, *, done: str | None = None,
                 outcome: case_workspace.FormOutcome | None = None, changed: list[Any] | None = None) -> Screen:
    now = deps.cases.clock()
    policy = deps.cases.policy
    place = policy.case_place(case)
    customer_now = case_workspace.local(now, place.timezone)
    opens = deps.hours.next_opening(now, place)
    revealed = case_work.revealed_to(case, viewer.principal, now)
    survey = deps.cases.surveys.get_survey(case.survey_id)      # None once its retention has passed
    contact = {"phone": survey.phone if survey else None, "email": survey.email if survey else None} \
        if revealed else None
    earlier_cases = [c for c in deps.cases.cases.cases_of(case.customer_id, now - timedelta(
        days=case_workspace.SURVEY_HISTORY_DAYS)) if c.case_id != case.case_id]
    earlier_surveys = [s for s in deps.cases.surveys.surveys_of(
        case.customer_id, now - timedelta(days=case_workspace.SURVEY_HISTORY_DAYS),
        case_workspace.SURVEY_HISTORY_LIMIT + 1) if s.survey_id != case.survey_id][
        :case_workspace.SURVEY_HISTORY_LIMIT]
    shown = cases.view(case, now)
    view = {
        **_common(viewer, deps),
        "case": shown, "done": done, "status_code": status,
        "outcome": outcome, "changed": [_entry(e, viewer) for e in (changed or [])],
        "href": _case_href(deps, case.case_id, viewer.language),
        "action_href": f"{deps.cases_url}/{quote(case.case_id, safe='')}",
        "languages_href": {lang: _case_href(deps, case.case_id, lang) for lang in LANGUAGES},
        "inbox_href": f"{deps.cases_url}?{urlencode({'lang': viewer.language})}",
        "seen": len(case.timeline),
        "deadlines": [_deadline(name, at, case, now, viewer) for name, at in (
            ("first_contact", case.first_contact_due), ("resolution", case.resolution_due))],
        "first_contact_at": _time(case.first_contact_at, viewer.timezone) if case.first_contact_at else None,
        "customer": {"timezone": place.timezone, "now": customer_now.strftime("%Y-%m-%d %H:%M"),
                     "in_window": opens == now, "window_opens": _time(opens, place.timezone)},
        "may_reveal": case_work.may_reveal(viewer.principal, case), "revealed": revealed,
        "contact": contact, "tel": _tel(contact), "masked_email": _masked_email(survey, revealed),
        # A case opened before cases kept their survey's channel: the survey's.
        "channel": case.channel or (survey.channel if survey else ""),
        "timeline": [_entry(e, viewer) for e in reversed(case.timeline)],
        "comments": [{"text": c["text"], "at": _time(datetime.fromisoformat(c["received_at"]), viewer.timezone)
                      if c["received_at"] else None} for c in shown["comments"]],
        "earlier_cases": [{"case_id": c.case_id, "procedure": c.procedure, "score": c.score,
                           "status": c.status.value, "opened": _time(c.opened_at, viewer.timezone),
                           "href": _case_href(deps, c.case_id, viewer.language)
                           if case_work.visible(viewer.principal, c) else None} for c in earlier_cases],
        "earlier_surveys": [{"procedure": s.procedure, "channel": s.channel, "status": s.status.value,
                             "score": s.score, "sent": _time(s.created_at, viewer.timezone)}
                            for s in earlier_surveys],
        "owners": [str(o) for o in case_workspace.assignable_owners(viewer.principal, policy.routing)
                   if o != case.owner],
        "may_claim": case.status is not CaseStatus.RESOLVED and not (
            case.owner == case_work.owner_of(viewer.principal) and case.status is CaseStatus.IN_PROGRESS),
        "root_causes": [{"code": c.code, "label": c.labels.get(viewer.language, c.code)}
                        for c in policy.codes.root_causes],
        "fixes": [{"code": c.code, "label": c.labels.get(viewer.language, c.code)} for c in policy.codes.actions],
        "code_labels": {c.code: c.labels.get(viewer.language, c.code)
                        for c in (*policy.codes.root_causes, *policy.codes.actions)},
        "contact_outcomes": list(case_work.CONTACT_OUTCOMES),
        "max_note": case_work.MAX_NOTE_CHARS,
    }
    return Screen(status, deps.dashboard.pages.render("case", viewer.language, view))


def _deadline(name: str, at: datetime, case: Case, now: datetime, viewer: Viewer) -> dict[str, Any]:
    met = name == "first_contact" and case.first_contact_at is not None or (
        name == "resolution" and case.status is CaseStatus.RESOLVED)
    return {"name": name, "viewer": _time(at, viewer.timezone), "viewer_zone": viewer.timezone,
            "customer": _time(at, case.customer_timezone), "customer_zone": case.customer_timezone,
            "left": None if met else _left(at, now), "met": met}


def _entry(entry: Any, viewer: Viewer) -> dict[str, Any]:
    return {"at": _time(entry.at, viewer.timezone), "kind": entry.kind, "actor": entry.actor,
            "detail": dict(entry.detail)}


def _masked_email(survey: Survey | None, revealed: bool) -> str | None:
    """The address as its owner would recognise it (never the whole address until revealed)."""
    if revealed:
        return None
    return masked_address(survey.email) if survey and survey.email else None


def _tel(contact: Mapping[str, str | None] | None) -> str | None:
    phone = (contact or {}).get("phone")
    return f"tel:{phone}" if phone and phone.startswith("+") and phone[1:].isdigit() else None


# --- the forms

def post_case_form(visit: Visit, case_id: str, action: str, raw_body: bytes | str | None,
                   deps: WorkspaceDeps) -> Screen:
    """A case form: checked (session, CSRF token, fields), then the move at the version the form
    was drawn on; 303 back to the case page, or the page again saying what stopped it."""
    principal = signed_in(visit, deps.dashboard)
    if isinstance(principal, Screen):
        return principal
    try:
        form = case_workspace.read_form(raw_body, FORM_FIELDS, max_bytes=MAX_FORM_BYTES,
                                        max_chars=MAX_FIELD_CHARS)
    except ValueError as exc:
        return message(deps.dashboard, 400, preferred_language(visit.accept_language), "invalid", str(exc))
    language = form.get("lang") if form.get("lang") in LANGUAGES else preferred_language(visit.accept_language)
    viewer = _make_viewer(principal, page_language(language), visit, deps)
    if not _csrf_ok(form.get("csrf", ""), visit, deps):
        count("CaseFormRefused", reason="csrf")
        logger.warning("case form refused", extra={"reason": "csrf", "subject": principal.subject})
        return message(deps.dashboard, 403, viewer.language, "form_expired")
    if action not in cases.ACTIONS:
        return message(deps.dashboard, 404, viewer.language, "not_found")
    try:
        seen = Seen(int(form.get("version", "")), int(form.get("seen", "0")))
    except ValueError:
        return message(deps.dashboard, 400, viewer.language, "invalid", "version")
    kept = {k: v for k, v in form.items() if k in ("owner", "outcome", "note", "text", "root_cause", "action")}
    body = _api_body(action, form, seen.version)
    try:
        cases.work(principal, case_id, action, body, deps.cases)
    except CaseNotFound:
        return message(deps.dashboard, 404, viewer.language, "no_case")
    except VersionConflict:
        count("CaseFormConflict", action=action)
        current = cases.visible_case(principal, case_id, deps.cases)
        outcome = case_workspace.FormOutcome(action, 409, "conflict", kept=kept)
        return _case_screen(viewer, current, deps, 409, outcome=outcome,
                            changed=case_workspace.changed_since(current, seen))
    except (InvalidCaseState, Forbidden, InvalidRequest) as exc:
        kind, status = {InvalidCaseState: ("refused", 409), Forbidden: ("forbidden", 403)}.get(
            type(exc), ("invalid", 400))
        problems = [case_workspace.FormProblem(str(p.get("field", "")), str(p.get("problem", "")))
                    for p in _fields(exc)]
        outcome = case_workspace.FormOutcome(action, status, kind, problems, kept)
        return _case_screen(viewer, cases.visible_case(principal, case_id, deps.cases), deps, status,
                            outcome=outcome)
    anchor = "#contact" if action == "reveal" else ""
    query = urlencode({"lang": viewer.language, "done": action})
    return Screen(303, location=f"{deps.cases_url}/{quote(case_id, safe='')}?{query}{anchor}")


def _fields(exc: Exception) -> list[dict[str, Any]]:
    listed = exc.details.get("fields", []) if isinstance(exc, InvalidRequest) else []
    return [p for p in listed if isinstance(p, dict)] if isinstance(listed, list) else []


def _api_body(action: str, form: Mapping[str, str], version: int) -> dict[str, Any]:
    """The case API's body of the move, from the form's fields (only those of the move)."""
    body: dict[str, Any] = {"version": version}
    for name in cases.FIELDS.get(action, set()):
        if name in form:
            body[name] = form[name]
    return body


def _csrf_ok(token: str, visit: Visit, deps: WorkspaceDeps) -> bool:
    session = dashboard.cookie_value(visit.cookie_header, dashboard.SESSION_COOKIE)
    if not session or not token:
        return False
    try:
        signed = deps.link_keys().verify(token, CSRF_PURPOSE)
    except TamperedToken:
        return False
    return secrets.compare_digest(signed, case_workspace.session_fingerprint(session))


# --- who is looking

def _viewer(visit: Visit, deps: WorkspaceDeps, back: str) -> Viewer | Screen:
    principal = signed_in(visit, deps.dashboard, back)
    if isinstance(principal, Screen):
        return principal
    chosen = (visit.params or {}).get("lang", "")
    language = page_language(chosen) if chosen in LANGUAGES else preferred_language(visit.accept_language)
    return _make_viewer(principal, language, visit, deps)


def _make_viewer(principal: Principal, language: str, visit: Visit, deps: WorkspaceDeps) -> Viewer:
    session = dashboard.cookie_value(visit.cookie_header, dashboard.SESSION_COOKIE) or ""
    csrf = deps.link_keys().sign(case_workspace.session_fingerprint(session), CSRF_PURPOSE)
    zone = case_workspace.viewer_timezone(principal, deps.cases.policy.routing)
    return Viewer(principal, language, zone, csrf)


def _common(viewer: Viewer, deps: WorkspaceDeps) -> dict[str, Any]:
    p = viewer.principal
    return {"principal": {"role": p.role.value, "branch": p.branch, "agent_id": p.agent_id, "subject": p.subject},
            "viewer_zone": viewer.timezone, "csrf": viewer.csrf, "languages": list(LANGUAGES),
            "dashboard_url": deps.dashboard.dashboard_url, "cases_url": deps.cases_url}


# --- links and times

def _inbox_href(deps: WorkspaceDeps, viewer: Viewer, query: InboxQuery, **changes: Any) -> str:
    if "status" in changes or "severity" in changes:
        changes.setdefault("page", None)
    params = {"lang": viewer.language, **query.params(**changes)}
    return f"{deps.cases_url}?{urlencode(params)}"


def _case_href(deps: WorkspaceDeps, case_id: str, language: str) -> str:
    return f"{deps.cases_url}/{quote(case_id, safe='')}?{urlencode({'lang': language})}"


def _query_string(params: Mapping[str, str] | None) -> str:
    return f"?{urlencode(dict(params))}" if params else ""


def _time(at: datetime | None, zone: str) -> str | None:
    return case_workspace.local(at, zone).strftime("%Y-%m-%d %H:%M") if at else None


def _left(due: datetime, now: datetime) -> dict[str, Any]:
    r = case_workspace.remaining(due, now)
    return {"overdue": r.overdue, "days": r.days, "hours": r.hours, "minutes": r.minutes}
