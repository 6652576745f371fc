"""The CX dashboard (`GET /dashboard`): sign-in, then one server-rendered page of what the read APIs
answer for the signed-in user's scope — scores with their trend and 95 % band, the breakdown by a
dimension with n and flags, the delivery and response funnel, open and overdue cases, the latest
comments with sentiment and key phrases.

Sign-in: a browser navigation carries a cookie, not a bearer header, so the session is checked here
(domain/dashboard.SESSION_COOKIE) by the session verifiers: the local stack's tokens
(`python -m devstack token --dashboard` prints a sign-in link, `/dashboard/local-sign-in`), or in
AWS the access token Cognito's hosted UI issued (adapters/hosted_ui.py: code grant with PKCE).

Each section is the same report its API route gives (`/v1/scores`, `/v1/cases`, `/v1/case-stats`,
`/v1/comments`) for the same principal: the dashboard can show nothing the API would not.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from chalicelib.domain import dashboard
from chalicelib.domain.comment_insight import GROUPS
from chalicelib.domain.dashboard import (
    RETURN_COOKIE,
    SESSION_COOKIE,
    SIGN_IN_COOKIE,
    DashboardQuery,
    challenge,
    new_verifier,
)
from chalicelib.domain.principal import Principal, Role
from chalicelib.domain.web_survey import LANGUAGES, preferred_language
from chalicelib.errors import InvalidRequest, Unauthenticated
from chalicelib.observability import count, logger
from chalicelib.services import case_stats, cases, comments, scores
from chalicelib.services.ports import HostedSignIn, OutcomeReport, ScoreStore, SessionVerifier

SIGN_IN_SECONDS = 600            # the hosted UI round trip's cookie
LOCAL_SESSION_SECONDS = 8 * 3600  # a local sign-in link's cookie (its token says when it really ends)


class DashboardPages(Protocol):
    content_security_policy: str

    def render(self, name: str, language: str, view: Mapping[str, Any]) -> str: ...


@dataclass(frozen=True)
class DashboardDeps:
    sessions: Sequence[SessionVerifier]
    hosted_ui: HostedSignIn | None           # AWS; None locally
    local_sign_in: SessionVerifier | None    # the local stack's tokens; None in AWS
    pages: DashboardPages
    dashboard_url: str                       # <public_base_url>/dashboard
    scores: ScoreStore
    outcomes: OutcomeReport
    min_sample: int
    score_shards: int
    cases: cases.CaseDeps
    case_stats: case_stats.CaseStatsDeps
    comments: comments.CommentsDeps
    today: Callable[[], date]


@dataclass(frozen=True)
class Screen:
    """What to answer: a page (status + html) or a redirect (location), with cookies to set."""

    status: int
    html: str | None = None
    location: str | None = None
    cookies: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Visit:
    params: Mapping[str, str]
    cookie_header: str | None
    accept_language: str | None


def open_dashboard(visit: Visit, deps: DashboardDeps) -> Screen:
    params = dict(visit.params or {})
    if "code" in params or "state" in params:
        return _signed_in_by_hosted_ui(params, visit, deps)
    principal = _session(visit.cookie_header, deps)
    if principal is None:
        return _sign_in(visit, deps)
    try:
        query = dashboard.parse_query(params, visit.accept_language, principal)
        shown = view(principal, query, deps)
    except (dashboard.InvalidDashboardQuery, InvalidRequest) as exc:    # ours, or a read API's (dates)
        language = preferred_language(visit.accept_language)
        return message(deps, 400, language, "invalid", str(exc))
    count("DashboardViewed", role=principal.role.value)
    return Screen(200, deps.pages.render("dashboard", query.language, shown))


def signed_in(visit: Visit, deps: DashboardDeps, back: str | None = None) -> Principal | Screen:
    """The session's CX principal, or the sign-in screen instead; `back`: the page (path and query)
    to return to once signed in (a case an alert linked to)."""
    principal = _session(visit.cookie_header, deps)
    return principal if principal is not None else _sign_in(visit, deps, back)


def local_sign_in(params: Mapping[str, str] | None, accept_language: str | None, deps: DashboardDeps,
                  cookie_header: str | None = None) -> Screen:
    """`/dashboard/local-sign-in?token=...` (local stack only): the token becomes the session cookie,
    and the browser goes back to the page that asked for a sign-in (else the dashboard)."""
    language = preferred_language(accept_language)
    if deps.local_sign_in is None:
        return message(deps, 404, language, "not_found")
    token = (params or {}).get("token", "")
    principal = dashboard.cx_principal(deps.local_sign_in.principal(token)) if token else None
    if principal is None:
        return message(deps, 401, language, "expired")
    logger.info("dashboard signed in", extra={"subject": principal.subject, "role": principal.role.value,
                                              "how": "local"})
    session = _cookie(deps, SESSION_COOKIE, token, LOCAL_SESSION_SECONDS)
    returned = [_cookie(deps, RETURN_COOKIE, "", 0)] if dashboard.cookie_value(cookie_header, RETURN_COOKIE) else []
    return Screen(303, location=_back(deps, cookie_header), cookies=[session, *returned])


def sign_out(accept_language: str | None, deps: DashboardDeps) -> Screen:
    cleared = [_cookie(deps, SESSION_COOKIE, "", 0)]
    if deps.hosted_ui is not None:
        return Screen(303, location=deps.hosted_ui.logout_url(), cookies=cleared)
    return Screen(200, deps.pages.render("message", preferred_language(accept_language),
                                         _message_view(deps, "signed_out")), cookies=cleared)


# --- what the page shows

def view(principal: Principal, query: DashboardQuery, deps: DashboardDeps) -> dict[str, Any]:
    today = deps.today()
    period = {k: query.params[k] for k in ("from", "to") if k in query.params}
    score_query = scores.scoped(scores.parse_query(query.params, today), principal)
    score_report = scores.report(score_query, deps.scores, deps.outcomes, deps.min_sample, deps.score_shards)
    for result in score_report["results"]:
        result["series"] = dashboard.band_series(result.get("trend", []))
    group = query.dimension if query.dimension in GROUPS else None
    comment_report = comments.report(principal, comments.parse_query(
        {**period, "limit": str(dashboard.LATEST_COMMENTS), **({"group": group} if group else {})}, today),
        deps.comments)
    stats = case_stats.report(principal, case_stats.parse_query(period, today), deps.case_stats)
    in_hand = cases.cases_in_hand(principal, dashboard.LISTED_CASES, deps.cases)
    # The outcome counters are per procedure, company-wide: the funnel is the CX admin's view (the
    # score report has it already for a company-wide breakdown; read it once).
    funnel = score_report["funnel"]
    if funnel is None and principal.role is Role.CX_ADMIN:
        funnel = scores.funnel(scores.ScoreQuery("procedure", score_report["from"], score_report["to"]), deps.outcomes)
    return {
        "principal": {"role": principal.role.value, "branch": principal.branch, "agent_id": principal.agent_id},
        "funnel": funnel,
        "query": {"dimension": query.dimension, "period": query.period, "from": score_report["from"],
                  "to": score_report["to"], "language": query.language},
        "dimensions": dashboard.breakdowns(principal),
        "languages": list(LANGUAGES),
        "scores": score_report,
        "comments": comment_report,
        "case_stats": stats["total"],
        "overdue_cases": in_hand["overdue"]["cases"],
        "overdue_more": _not_listed(in_hand["overdue"]),           # "and 25 more"
        "open_cases": in_hand["open"]["cases"],
        "open_more": _not_listed(in_hand["open"]),
        "dashboard_url": deps.dashboard_url,
        "cases_url": deps.dashboard_url.removesuffix("/dashboard") + "/cases",
    }


def _not_listed(listed: dict[str, Any]) -> int:
    return int(listed["total"]) - len(listed["cases"])


# --- sessions

def _session(cookie_header: str | None, deps: DashboardDeps) -> Principal | None:
    token = dashboard.cookie_value(cookie_header, SESSION_COOKIE)
    if token is None:
        return None
    for verifier in deps.sessions:
        principal = dashboard.cx_principal(verifier.principal(token))
        if principal is not None:
            return principal
    return None


def _sign_in(visit: Visit, deps: DashboardDeps, back: str | None = None) -> Screen:
    remembered = dashboard.return_cookie(back) if back else None
    returning = [_cookie(deps, RETURN_COOKIE, remembered, SIGN_IN_SECONDS)] if remembered else []
    if deps.hosted_ui is None:
        shown = message(deps, 401, preferred_language(visit.accept_language), "sign_in_local")
        return Screen(shown.status, shown.html, cookies=returning)
    state, verifier = secrets.token_urlsafe(24), new_verifier()
    return Screen(303, location=deps.hosted_ui.authorize_url(state, challenge(verifier)),
                  cookies=[_cookie(deps, SIGN_IN_COOKIE, f"{state}.{verifier}", SIGN_IN_SECONDS), *returning])


def _back(deps: DashboardDeps, cookie_header: str | None) -> str:
    """Where a completed sign-in goes: the page the return cookie names, else the dashboard."""
    path = dashboard.return_path(dashboard.cookie_value(cookie_header, RETURN_COOKIE))
    if path is None:
        return deps.dashboard_url
    return deps.dashboard_url.removesuffix("/dashboard") + path


def _signed_in_by_hosted_ui(params: Mapping[str, str], visit: Visit, deps: DashboardDeps) -> Screen:
    language = preferred_language(visit.accept_language)
    pending = dashboard.cookie_value(visit.cookie_header, SIGN_IN_COOKIE) or ""
    state, _, verifier = pending.partition(".")
    if deps.hosted_ui is None or not state or not secrets.compare_digest(state, params.get("state", "")) \
            or not params.get("code"):
        count("DashboardSignInRefused", reason="state")
        return message(deps, 400, language, "sign_in_again")
    try:
        tokens = deps.hosted_ui.exchange(params["code"], verifier)
    except Unauthenticated:
        count("DashboardSignInRefused", reason="code")
        return message(deps, 400, language, "sign_in_again")
    principal = _session(f"{SESSION_COOKIE}={tokens.access_token}", deps)
    if principal is None:                       # signed in, but in no CX group (or set up wrongly)
        count("DashboardSignInRefused", reason="role")
        return message(deps, 403, language, "no_role")
    logger.info("dashboard signed in", extra={"subject": principal.subject, "role": principal.role.value,
                                              "how": "hosted_ui"})
    return Screen(303, location=_back(deps, visit.cookie_header),
                  cookies=[_cookie(deps, SESSION_COOKIE, tokens.access_token, tokens.expires_in),
                           _cookie(deps, SIGN_IN_COOKIE, "", 0), _cookie(deps, RETURN_COOKIE, "", 0)])


def _cookie(deps: DashboardDeps, name: str, value: str, seconds: int) -> str:
    secure = "; Secure" if deps.dashboard_url.startswith("https://") else ""
    return f"{name}={value}; Max-Age={seconds}; Path=/; HttpOnly; SameSite=Lax{secure}"


def message(deps: DashboardDeps, status: int, language: str, kind: str, detail: str = "") -> Screen:
    """A short page in the reader's language: sign in, no such page, what cannot be shown."""
    return Screen(status, deps.pages.render("message", language, _message_view(deps, kind, detail)))


def _message_view(deps: DashboardDeps, kind: str, detail: str = "") -> dict[str, Any]:
    return {"kind": kind, "detail": detail, "dashboard_url": deps.dashboard_url}
