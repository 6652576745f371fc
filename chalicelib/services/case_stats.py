"""The recovery report (GET /v1/case-stats): the closed loop per procedure over the cases opened in a
period of days (`from`..`to`, days in the reporting time zone), counted by domain/case_stats.py.

Each role counts exactly the cases it can list, by the case list's scope rule (services/cases.scoped,
domain/case_work.scope_of): a branch manager their branch's — its customers' cases and those in its
queue — an agent the cases they own; `branch` is the customer's branch, as in the list (a manager's
`branch=<another>` counts that branch's cases in their queue); a filter outside the scope counts
nothing (an empty report, never a 403: no existence leak). The cases are read once, from the
opened-at range of the indexes the list of that scope queries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain import case_stats, case_work
from chalicelib.domain.case_policy import CasePolicy
from chalicelib.domain.principal import Principal
from chalicelib.errors import InvalidRequest
from chalicelib.services.cases import scoped
from chalicelib.services.ports import CaseQuery, CaseStore
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


def parse_query(params: Mapping[str, str] | None, today: date) -> StatsQuery:
    params = params or {}
    refuse_unknown(params, QUERY_PARAMETERS, InvalidCaseStatsQuery)
    from_day, to_day = period(params, today, InvalidCaseStatsQuery)
    return StatsQuery(from_day, to_day, params.get("procedure") or None, params.get("branch") or None)


def report(principal: Principal, query: StatsQuery, deps: CaseStatsDeps) -> dict[str, Any]:
    now = deps.clock()
    scope = scoped(principal, CaseQuery(branch=query.branch))
    found = []
    if scope is not None:
        start, end = day_bounds(query.from_day, query.to_day, deps.reporting_tz)
        found = [c for c in deps.cases.opened_between(start, end, branch=scope.branch, owner=scope.owner,
                                                      in_branch=scope.in_branch)
                 if (query.procedure is None or c.procedure == query.procedure)
                 and case_work.visible(principal, c)]
    return {
        "from": query.from_day, "to": query.to_day, "timezone": deps.reporting_tz.key,
        # the customer's branch asked for, else the branch whose scope is counted (a manager's)
        "procedure": query.procedure, "branch": query.branch or (scope.in_branch if scope else None),
        "total": asdict(case_stats.loop_stats(found, now)),
        "procedures": [{"procedure": name, **asdict(stats)}
                       for name, stats in case_stats.by_procedure(found, now).items()],
    }
