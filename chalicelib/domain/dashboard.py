"""The CX dashboard's decisions, pure: what a request asks for (period, grouping, language), who may
ask it (a CX principal from a session), and the chart series drawn from a score report's trend (the
score and its 95 % band; a period with fewer answers than the minimum keeps its point, flagged).

The numbers themselves are the read APIs' (services/scores.py, cases.py, case_stats.py,
comments.py): the dashboard shows what `/v1/scores` and the others answer, never a second formula.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib.domain.principal import Principal, Role
from chalicelib.domain.scoring import DIMENSIONS
from chalicelib.domain.statistics import PERIODS
from chalicelib.domain.web_survey import LANGUAGES, page_language, preferred_language

QUERY_PARAMETERS = frozenset({"from", "to", "period", "dimension", "lang"})
DEFAULT_PERIOD = "day"
LATEST_COMMENTS = 10
LISTED_CASES = 10
SESSION_COOKIE = "koe_session"       # the CX user's token: HttpOnly, SameSite=Lax
SIGN_IN_COOKIE = "koe_sign_in"       # the hosted UI round trip's state and PKCE verifier
RETURN_COOKIE = "koe_return"         # where a sign-in goes back to (a case page an alert linked to)
RETURN_PREFIXES = ("/cases", "/dashboard")


class InvalidDashboardQuery(ValueError):
    """A bad dashboard parameter; the page says which."""


@dataclass(frozen=True)
class DashboardQuery:
    params: Mapping[str, str]        # from, to, period, dimension as given (the read APIs check them)
    dimension: str
    period: str
    language: str


def parse_query(params: Mapping[str, str] | None, accept_language: str | None, principal: Principal) -> DashboardQuery:
    """The dashboard's query: `lang` (the switch) wins over the browser's Accept-Language; an agent
    always sees their own agent group; a branch manager's default breakdown is by agent."""
    params = dict(params or {})
    unknown = sorted(set(params) - QUERY_PARAMETERS)
    if unknown:
        raise InvalidDashboardQuery(f"unknown parameter {', '.join(unknown)}")
    chosen = params.pop("lang", "")
    language = page_language(chosen) if chosen in LANGUAGES else preferred_language(accept_language)
    default = {Role.AGENT: "agent", Role.BRANCH_MANAGER: "agent"}.get(principal.role, "branch")
    dimension = "agent" if principal.role is Role.AGENT else (params.get("dimension") or default)
    if dimension not in DIMENSIONS:
        raise InvalidDashboardQuery(f"dimension is one of {', '.join(DIMENSIONS)}")
    trend = params.get("period") or DEFAULT_PERIOD
    if trend not in PERIODS:
        raise InvalidDashboardQuery(f"period is one of {', '.join(PERIODS)}")
    kept = {k: v for k, v in params.items() if k in ("from", "to") and v}
    return DashboardQuery({**kept, "dimension": dimension, "period": trend}, dimension, trend, language)


def breakdowns(principal: Principal) -> list[str]:
    """The dimensions a role may break its scores down by: an agent none (themselves only), a branch
    manager all but branch (their own)."""
    if principal.role is Role.AGENT:
        return []
    return [d for d in DIMENSIONS if not (principal.role is Role.BRANCH_MANAGER and d == "branch")]


def cx_principal(principal: Principal | None) -> Principal | None:
    """Only the CX roles open the dashboard (an operations key never does)."""
    if principal is None or principal.role not in (Role.CX_ADMIN, Role.BRANCH_MANAGER, Role.AGENT):
        return None
    return principal


# What each metric can be: a band is drawn within it (NPS ± 60 on 9 answers is not "−150").
METRIC_BOUNDS: Mapping[str, tuple[float, float]] = {"nps": (-100.0, 100.0), "csat": (0.0, 100.0), "ces": (1.0, 7.0)}


def band_series(trend: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """A trend (`/v1/scores` results[].trend) as chart series: labels, score, the band's lower and
    upper edge (score ± margin within the metric's range; None where there is no margin), n and the
    too-few flag per point."""
    labels, score, lower, upper, n, too_few = [], [], [], [], [], []
    for point in trend:
        value, margin = point.get("score"), point.get("margin")
        low, high = METRIC_BOUNDS.get(point.get("metric", ""), (float("-inf"), float("inf")))
        labels.append(point["period"])
        score.append(value)
        lower.append(round(max(value - margin, low), 2) if value is not None and margin is not None else None)
        upper.append(round(min(value + margin, high), 2) if value is not None and margin is not None else None)
        n.append(point.get("n", 0))
        too_few.append(bool(point.get("too_few")))
    return {"labels": labels, "score": score, "lower": lower, "upper": upper, "n": n, "too_few": too_few}


def cookie_value(cookie_header: str | None, name: str) -> str | None:
    """One cookie's value from a Cookie header (`a=1; b=2`), or None."""
    for part in (cookie_header or "").split(";"):
        key, sep, value = part.strip().partition("=")
        if sep and key == name and value:
            return value
    return None


def new_verifier() -> str:
    """A PKCE code verifier (RFC 7636: 43-128 characters of [A-Za-z0-9-._~])."""
    return secrets.token_urlsafe(48)


def challenge(verifier: str) -> str:
    """PKCE S256: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def return_cookie(path: str) -> str | None:
    """A page to go back to after signing in, as a cookie value (None for anything but a page of
    this app's: never another origin)."""
    if not path.startswith(RETURN_PREFIXES) or "//" in path or "\\" in path or len(path) > 1024:
        return None
    return base64.urlsafe_b64encode(path.encode("utf-8")).decode("ascii").rstrip("=")


def return_path(value: str | None) -> str | None:
    """The page a return cookie names, checked again (a cookie is the browser's to change)."""
    if not value or len(value) > 2048:
        return None
    try:
        path = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return path if return_cookie(path) is not None else None
