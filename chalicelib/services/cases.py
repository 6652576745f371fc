"""The CX team works cases: list, read, claim, assign, record contact attempts, resolve, reopen.

Every change names the `version` it read; the store writes it only at that version, so two people
saving one case get one success and one 409 (VersionConflict), never a lost update. What a role
sees is decided in domain/case_work.py: a case someone may not see is CaseNotFound (404), exactly
like a case that does not exist. Lists are scoped the same way before the store is asked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import case_work
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.case_work import CaseRefused, Resolution
from chalicelib.domain.cases import Case, CaseStatus, Owner, Severity
from chalicelib.domain.events import MAX_EVENT_ID_CHARS
from chalicelib.domain.principal import Principal
from chalicelib.errors import CaseNotFound, Forbidden, InvalidCaseState, InvalidRequest, KoeError, UnknownOwner
from chalicelib.observability import count, logger
from chalicelib.services.on_answers import publish
from chalicelib.services.ports import Alerts, CaseQuery, CaseStore, ConversationStore
from chalicelib.services.query_params import one_of

MAX_LIMIT = 100
FILTERS = ("status", "owner", "branch", "procedure", "severity", "overdue", "limit", "cursor")
ACTIONS = ("claim", "assign", "contact-attempts", "notes", "resolve", "reopen", "reveal")
FIELDS = {"assign": {"owner"}, "contact-attempts": {"outcome", "note"}, "notes": {"text"},
          "resolve": {"root_cause", "action"}}
OPEN_STATUSES = frozenset({CaseStatus.OPEN.value, CaseStatus.IN_PROGRESS.value})


@dataclass(frozen=True)
class CaseDeps:
    cases: CaseStore
    alerts: Alerts
    policy: CasePolicy
    clock: Callable[[], datetime]
    surveys: ConversationStore          # the customer's number and address, for the owner who calls back


# --- reading

def list_cases(principal: Principal, params: Mapping[str, str] | None, deps: CaseDeps) -> dict[str, Any]:
    query = scoped(principal, _query(params or {}, deps.clock()))
    if query is None:                        # a filter outside the caller's scope: nothing to see
        return {"cases": [], "next_cursor": None}
    page = deps.cases.list_cases(query)
    now = deps.clock()
    visible = [c for c in page.cases if case_work.visible(principal, c)]
    return {"cases": [summary(c, now) for c in visible], "next_cursor": page.cursor}


def cases_in_hand(principal: Principal, shown: int, deps: CaseDeps) -> dict[str, dict[str, Any]]:
    """The open cases in the caller's scope (the dashboard's lists): `open`, the newest first, and
    `overdue`, those past their resolution deadline, the most overdue first; of each the first
    `shown` and how many there are in all (`total`: "and 25 more"). Reads every page of the open
    cases once: they are the few being worked, not the history."""
    now = deps.clock()
    query = scoped(principal, CaseQuery(status=OPEN_STATUSES, limit=MAX_LIMIT))
    found: list[Case] = []
    while query is not None:
        page = deps.cases.list_cases(query)
        found += [c for c in page.cases if case_work.visible(principal, c)]
        query = replace(query, cursor=page.cursor) if page.cursor else None
    newest = case_work.newest_first(found)
    overdue = case_work.most_overdue_first(c for c in found if c.overdue(now))
    return {name: {"cases": [summary(c, now) for c in listed[:shown]], "total": len(listed)}
            for name, listed in (("open", newest), ("overdue", overdue))}


def get_case(principal: Principal, case_id: str, deps: CaseDeps) -> dict[str, Any]:
    return view(visible_case(principal, case_id, deps), deps.clock())


def case_codes(policy: CasePolicy) -> dict[str, Any]:
    def listed(codes: tuple[case_work.Code, ...]) -> list[dict[str, Any]]:
        return [{"code": c.code, "labels": dict(c.labels)} for c in codes]
    return {"root_causes": listed(policy.codes.root_causes), "actions": listed(policy.codes.actions),
            "contact_outcomes": list(case_work.CONTACT_OUTCOMES)}


# --- changing

def act(principal: Principal, case_id: str, action: str, body: Any, deps: CaseDeps) -> dict[str, Any]:
    """One move on a case, at the version the body names; the case as saved (`reveal`: with the
    customer's contact details, `contact`)."""
    saved = work(principal, case_id, action, body, deps)
    shown = view(saved, deps.clock())
    if action == "reveal":
        shown["contact"] = contact_details(saved, deps)
    return shown


def work(principal: Principal, case_id: str, action: str, body: Any, deps: CaseDeps) -> Case:
    """One move on a case, at the version the body names; the case as saved. The API and the case
    page both move cases through here."""
    if action not in ACTIONS:
        raise InvalidRequest(f"no such action: {action}; one of {', '.join(ACTIONS)}")
    fields = _body(body, action)
    case = visible_case(principal, case_id, deps)
    now = deps.clock()
    try:
        changed = _move(case, action, fields, principal, now, deps)
    except CaseRefused as exc:
        raise InvalidCaseState(str(exc)) from exc
    except case_work.NotAllowed as exc:
        raise Forbidden(str(exc)) from exc
    saved = deps.cases.save(changed, fields["version"])
    count("CaseWorked", action=action)
    logger.info("case worked", extra={"case_id": case_id, "action": action, "subject": principal.subject,
                                      "version": saved.version})
    if action == "reopen":
        _tell(deps, saved, "reopened", deps.policy.routing.recipients(saved, "owner"), now)
    return saved


def contact_details(case: Case, deps: CaseDeps) -> dict[str, str | None]:
    """The customer's number and address as the survey keeps them (None: not given, or the survey
    is no longer kept). Call only for a principal case_work.may_reveal allows, after `reveal`."""
    survey = deps.surveys.get_survey(case.survey_id)
    return {"phone": survey.phone if survey else None, "email": survey.email if survey else None}


def _move(case: Case, action: str, fields: dict[str, Any], principal: Principal, now: datetime,
          deps: CaseDeps) -> Case:
    policy = deps.policy
    if action == "claim":
        owner = case_work.owner_of(principal)
        return case_work.claim(case, principal, now, policy.owner_timezone(owner, policy.case_place(case)))
    if action == "assign":
        owner = _owner(fields.get("owner"))
        if not policy.routing.can_own(owner):       # a bad request, whoever asks: 400, not 403
            raise UnknownOwner(f"no such owner: {owner}",
                               fields=[{"field": "owner", "problem": f"{owner} is not an owner koe knows"}])
        if not case_work.may_assign(principal, owner, policy.routing):
            raise Forbidden(f"{principal.role.value} may not assign this case to {owner}")
        return case_work.assign(case, owner, principal, now, policy.owner_timezone(owner, policy.case_place(case)),
                                policy.routing)
    if action == "contact-attempts":
        outcome = fields.get("outcome")
        if outcome not in case_work.CONTACT_OUTCOMES:
            raise InvalidRequest("outcome is required", fields=[
                {"field": "outcome", "problem": f"is one of {', '.join(case_work.CONTACT_OUTCOMES)}"}])
        return case_work.contact_attempt(case, outcome, principal, now, _note(fields, "note", required=False))
    if action == "notes":
        return case_work.add_note(case, _note(fields, "text", required=True), principal, now)
    if action == "reveal":
        return case_work.reveal(case, case_work.CONTACT_DETAILS, principal, now)
    if action == "resolve":
        root_cause, fix = fields.get("root_cause"), fields.get("action")
        problems = policy.codes.check(str(root_cause or ""), str(fix or ""))
        if problems:
            raise InvalidRequest("root_cause and action are required codes (GET /v1/case-codes)", fields=problems)
        closing = policy.closing_for(case.procedure) and case.closing not in ("sent", "skipped", "failed")
        resurvey = policy.resurvey_after(case.procedure)
        return case_work.resolve(case, Resolution(
            str(root_cause), str(fix), retention=policy.retention, closing_at=now if closing else None,
            resurvey_at=now + resurvey if resurvey else None), principal, now)
    deadlines = policy.deadlines(policy.case_place(case), case.procedure, now,
                                 contacted=case.first_contact_at is not None)
    return case_work.reopen(case, deadlines, principal, now)


def _tell(deps: CaseDeps, case: Case, event: str, recipients: tuple[str, ...], now: datetime) -> None:
    """An alert after a saved change: a failure is logged and counted (the change stands; the
    ladder alerts again when the case is late)."""
    try:
        publish(deps.alerts, case, event, recipients, now, occurrence=str(case.version))
    except KoeError as exc:
        count("CaseAlertFailed", event=event)
        logger.warning("case alert not published", extra={"case_id": case.case_id, "event": event,
                                                          "error": type(exc).__name__})


# --- reading and checking what comes in

def visible_case(principal: Principal, case_id: str, deps: CaseDeps) -> Case:
    if len(case_id) > MAX_EVENT_ID_CHARS:       # no case has one: refused before the store is asked
        raise InvalidRequest(f"case_id is at most {MAX_EVENT_ID_CHARS} characters (a case is named by its "
                             "survey's event id)",
                             fields=[{"field": "case_id", "problem": f"is at most {MAX_EVENT_ID_CHARS} characters"}])
    case = deps.cases.get_case(case_id)
    if case is None or not case_work.visible(principal, case):
        raise CaseNotFound(f"no case {case_id}")
    return case


def _note(fields: dict[str, Any], name: str, *, required: bool) -> str:
    try:
        return case_work.read_note(fields.get(name), required=required)
    except ValueError as exc:
        raise InvalidRequest(f"{name}: {exc}", fields=[{"field": name, "problem": str(exc)}]) from exc


def _owner(value: Any) -> Owner:
    try:
        return Owner.parse(str(value or ""))
    except ValueError as exc:
        raise InvalidRequest(str(exc), fields=[{"field": "owner", "problem": str(exc)}]) from exc


def _body(body: Any, action: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise InvalidRequest("the body is a JSON object with the case's version, e.g. {\"version\": 3}")
    allowed = {"version"} | FIELDS.get(action, set())
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise InvalidRequest(f"unknown fields: {', '.join(unknown)}",
                             fields=[{"field": name, "problem": "is not a field of this action"} for name in unknown])
    version = body.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise InvalidRequest("version is required: the version of the case you read",
                             fields=[{"field": "version", "problem": "is a whole number >= 1"}])
    return dict(body)


def _query(params: Mapping[str, str], now: datetime) -> CaseQuery:
    unknown = sorted(set(params) - set(FILTERS))
    if unknown:
        raise InvalidRequest(f"unknown parameters: {', '.join(unknown)}; filters are {', '.join(FILTERS)}")
    statuses = frozenset(s for s in params.get("status", "").split(",") if s)
    bad = statuses - {s.value for s in CaseStatus}
    if bad:
        raise InvalidRequest(f"status is one or more of {', '.join(s.value for s in CaseStatus)}")
    severity = one_of(params, "severity", [s.value for s in Severity])
    overdue = one_of(params, "overdue", ["true", "false"])
    try:
        limit = int(params.get("limit", "50"))
    except ValueError as exc:
        raise InvalidRequest("limit is a whole number") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit is between 1 and {MAX_LIMIT}")
    owner = params.get("owner")
    if owner:
        _owner(owner)
    return CaseQuery(status=statuses, owner=owner or None, branch=params.get("branch") or None,
                     procedure=params.get("procedure") or None, severity=severity,
                     overdue_at=now if overdue == "true" else None, limit=limit, cursor=params.get("cursor") or None)


def scoped(principal: Principal, query: CaseQuery) -> CaseQuery | None:
    """The query within what the caller may see (case_work.scope_of, the rule a read is checked
    by; the recovery report counts by it too); None when its filters leave that scope. The `branch`
    filter stays the customer's branch: a branch manager's `branch=<another>` lists that branch's
    cases in their own queue."""
    scope = case_work.scope_of(principal)
    if scope.everything:
        return query
    if scope.branch is not None:
        return replace(query, in_branch=scope.branch)
    if scope.owner is not None and query.owner in (None, scope.owner):
        return replace(query, owner=scope.owner)
    return None


# --- how a case is shown

def _when(at: datetime | None, timezone: str) -> str | None:
    return at.astimezone(ZoneInfo(timezone)).isoformat() if at else None


def _due(at: datetime, case: Case) -> dict[str, Any]:
    """A deadline in UTC and in the customer's and the owner's time zones."""
    return {"at": at.isoformat(), "customer": {"timezone": case.customer_timezone,
                                               "local": _when(at, case.customer_timezone)},
            "owner": {"timezone": case.owner_timezone, "local": _when(at, case.owner_timezone)}}


def summary(case: Case, now: datetime) -> dict[str, Any]:
    return {
        "case_id": case.case_id, "version": case.version, "status": case.status.value,
        "severity": case.severity.value, "reasons": list(case.reasons), "procedure": case.procedure,
        "branch": case.branch, "agent_id": case.agent_id, "owner": str(case.owner), "score": case.score,
        "opened_at": case.opened_at.isoformat(), "first_contact_due": _due(case.first_contact_due, case),
        "resolution_due": _due(case.resolution_due, case), "overdue": case.overdue(now),
        "callback_consent": case.callback_consent,
    }


def _comments(case: Case) -> list[dict[str, Any]]:
    """Every comment of the customer's, oldest first, each with when it came (a case from before
    cases kept each: its one comment, without a time)."""
    if case.comments:
        return [{"text": c.text, "received_at": c.at.isoformat()} for c in case.comments]
    return [{"text": case.comment, "received_at": None}] if case.comment else []


def view(case: Case, now: datetime) -> dict[str, Any]:
    comments = _comments(case)
    answers: list[dict[str, Any]] = [{"question": "score", "score": case.score}] if case.score >= 0 else []
    answers += [{"question": "comment", **c} for c in comments]
    return {
        **summary(case, now),
        "survey_id": case.survey_id, "customer_id": case.customer_id, "phone": case.phone_masked,
        "locale": case.locale, "channel": case.channel, "context": case.context, "answers": answers,
        "comment": case.comment, "comments": comments,
        "first_contact_at": _iso(case.first_contact_at), "root_cause": case.root_cause, "action": case.action,
        "resolved_at": _iso(case.resolved_at), "closing_message": case.closing, "resurvey_id": case.resurvey_id,
        "recovered": case.recovered, "expires_at": _iso(case.expires_at),
        "ladder": [{"step": s.name, "at": s.at.isoformat(), "to": s.to,
                    "state": "done" if i < case.ladder_next else "pending"} for i, s in enumerate(case.ladder)],
        "timeline": [{"at": e.at.isoformat(), "kind": e.kind, "actor": e.actor, "detail": dict(e.detail)}
                     for e in case.timeline],
    }


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None
