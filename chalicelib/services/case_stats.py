"""The recovery report (GET /v1/case-stats): the closed loop per procedure over the cases opened in a
period of days (`from`..`to`, days in the reporting time zone), counted by domain/case_stats.py.

Each role counts what it may see, as in the case list (services/cases.py): a branch manager their
branch's cases, an agent the cases they own; a filter outside that scope counts nothing (an empty
report, never a 403: no existence leak). The cases are read once from the store's opened-at index.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import case_stats, case_work
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.principal import Principal, narrowed
from chalicelib.errors import InvalidRequest
from chalicelib.services.ports import CaseStore
from chalicelib.services.query_params import day_bounds, period, refuse_unknown

QUERY_PARAMETERS = frozenset({"from", "to", "procedure", "branch"})


class InvalidCaseStatsQuery(InvalidRequest):
    """A bad query parameter; the message names it (400 at the edge)."""


@dataclass(frozen=True)
class CaseStatsDeps:
    cases: CaseStore
    policy: CasePolicy                    # its routing table: who sees which case
    reporting_tz: ZoneInfo                # whose days `from` and `to` are
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class StatsQuery:
    from_day: str
    to_day: str
    procedure: str | None = None
    branch: str | None = None


@dataclass(frozen=True)
class Scope:
    branch: str | None
    owner: str | None


def parse_query(params: Mapping[str, str] | None, today: date) -> StatsQuery:
    params = params or {}
    refuse_unknown(params, QUERY_PARAMETERS, InvalidCaseStatsQuery)
    from_day, to_day = period(params, today, InvalidCaseStatsQuery)
    return StatsQuery(from_day, to_day, params.get("procedure") or None, params.get("branch") or None)


def report(principal: Principal, query: StatsQuery, deps: CaseStatsDeps) -> dict[str, Any]:
    now = deps.clock()
    scope = _scoped(principal, query.branch)
    cases = []
    if scope is not None:
        start, end = day_bounds(query.from_day, query.to_day, deps.reporting_tz)
        cases = [c for c in deps.cases.opened_between(start, end, branch=scope.branch, owner=scope.owner)
                 if (query.procedure is None or c.procedure == query.procedure)
                 and case_work.visible(principal, c)]
    return {
        "from": query.from_day, "to": query.to_day, "timezone": deps.reporting_tz.key,
        "procedure": query.procedure, "branch": scope.branch if scope else query.branch,
        "total": asdict(case_stats.loop_stats(cases, now)),
        "procedures": [{"procedure": name, **asdict(stats)}
                       for name, stats in case_stats.by_procedure(cases, now).items()],
    }


def _scoped(principal: Principal, branch: str | None) -> Scope | None:
    """What the caller may count; None when the branch asked for is outside it."""
    scope = narrowed(principal, branch, None)
    if scope is None:
        return None
    return Scope(scope[0], f"agent:{scope[1]}" if scope[1] else None)
