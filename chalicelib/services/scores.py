"""The scores read model: NPS, CSAT and CES per group and period, with n, margins and flags.

Groups are one dimension (procedure, branch, agent, channel, locale) — within one branch when the
caller's scope is a branch (a branch manager's, or `branch=` asked) — over a day range, as a total,
per group, and as a trend per day, week or month. The answers without a value for the dimension (no
agent) are a group of their own (`"value": null`), so the total of a scope and period is the same
whatever the breakdown. The trend lists every period of the range, those without answers too (n 0,
no score): a day without answers is a gap, not a day that did not happen. Each scale asked in the
period is reported apart (an NPS and a CSAT are never averaged together). Attribution is the
survey's, frozen when it was sent. The funnel (sent, delivered, answered, deferred, suppressed by
reason) comes from the outcome counters, which are per procedure: it is given for the whole
company's view, with the surveys waiting for their send window now (`waiting_now`) beside those
deferred over the period (`deferred`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from chalicelib.domain import statistics
from chalicelib.domain.model import Counts
from chalicelib.domain.principal import Principal, Role
from chalicelib.domain.questions import Scale
from chalicelib.domain.scoring import DIMENSIONS, NO_VALUE, WITHIN_BRANCH, within_branch
from chalicelib.errors import InvalidRequest
from chalicelib.services.ports import OutcomeReport, ScoreStore
from chalicelib.services.query_params import one_of, period, refuse_unknown

QUERY_PARAMETERS = frozenset({"dimension", "from", "to", "period", "value", "branch"})
CLASS_NAMES = {Scale.NPS: ("promoters", "passives", "detractors"), Scale.CSAT: ("satisfied", "neutral", "dissatisfied"),
               Scale.CES: ("easy", "neutral", "difficult")}


class InvalidQuery(InvalidRequest):
    """A bad query parameter; the message names it (400 at the edge)."""


@dataclass(frozen=True)
class ScoreQuery:
    dimension: str
    from_day: str
    to_day: str
    period: str | None = None         # day, week, month: a trend; None: none
    value: str | None = None          # one group only
    branch: str | None = None         # within this branch (a branch manager's scope)


def parse_query(params: Mapping[str, str] | None, today: date) -> ScoreQuery:
    params = params or {}
    refuse_unknown(params, QUERY_PARAMETERS, InvalidQuery)     # "dimesion=branch" must not report by procedure
    dimension = params.get("dimension", "procedure")
    if dimension not in DIMENSIONS:
        raise InvalidQuery(f"dimension must be one of {', '.join(DIMENSIONS)}")
    from_day, to_day = period(params, today, InvalidQuery)
    trend = one_of(params, "period", list(statistics.PERIODS))
    return ScoreQuery(dimension, from_day, to_day, trend, params.get("value") or None, params.get("branch") or None)


def scoped(query: ScoreQuery, principal: Principal) -> ScoreQuery:
    """The query within what the caller may see: a branch manager their branch, an agent themselves."""
    if principal.role is Role.BRANCH_MANAGER:
        if query.branch not in (None, principal.branch) or (
                query.dimension == "branch" and query.value not in (None, principal.branch)):
            raise InvalidQuery("a branch manager reads their own branch only")
        return replace(query, branch=principal.branch,
                       value=principal.branch if query.dimension == "branch" else query.value)
    if principal.role is Role.AGENT:
        if query.dimension != "agent" or query.value not in (None, principal.agent_id):
            raise InvalidQuery("an agent reads their own scores only: dimension=agent")
        return replace(query, value=principal.agent_id, branch=None)
    return query


def _partition(query: ScoreQuery) -> str:
    if query.branch and query.dimension in WITHIN_BRANCH:
        return within_branch(query.dimension, query.branch)
    return query.dimension


def report(query: ScoreQuery, store: ScoreStore, outcomes: OutcomeReport | None, min_n: int,
           shards: int = 1) -> dict[str, Any]:
    rows = store.read(_partition(query), query.from_day, query.to_day, shards)
    if query.dimension == "branch" and query.branch and not query.value:
        query = replace(query, value=query.branch)
    totals: dict[Scale, Counts] = defaultdict(Counts)
    groups: dict[Scale, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    trend: dict[Scale, dict[str, Counts]] = defaultdict(lambda: defaultdict(Counts))
    for key, counts in rows:
        if query.value is not None and key.value != query.value:
            continue
        scale = Scale(key.scale)
        totals[scale] += counts
        groups[scale][key.value] += counts
        if query.period:
            trend[scale][statistics.period_of(key.day, query.period)] += counts
    # Every period of the range, those without answers too (n 0, no score): a gap on the axis.
    axis = statistics.periods_between(query.from_day, query.to_day, query.period) if query.period else []
    results = [{
        "scale": scale.value,
        "total": _figure(scale, totals[scale], min_n),
        "groups": [{"value": value or None, **_figure(scale, c, min_n)}      # None: without a value (NO_VALUE)
                   for value, c in sorted(groups[scale].items(), key=_group_order)],
        **({"trend": [{"period": p, **_figure(scale, trend[scale].get(p, Counts()), min_n)} for p in axis]}
           if query.period else {}),
    } for scale in Scale if scale in totals]
    whole_company = outcomes is not None and query.branch is None and query.dimension in ("procedure", "channel",
                                                                                           "locale")
    return {
        "dimension": query.dimension, "from": query.from_day, "to": query.to_day, "period": query.period,
        "branch": query.branch, "value": query.value, "min_sample": min_n, "results": results,
        "funnel": funnel(query, outcomes) if whole_company and outcomes is not None else None,
        "items_read": len(rows),
    }


def _group_order(group: tuple[str, Counts]) -> tuple[bool, int, str]:
    """The most answered groups first; the answers without a value last."""
    value, counts = group
    return value == NO_VALUE, -counts.n, value


def _figure(scale: Scale, counts: Counts, min_n: int) -> dict[str, Any]:
    f = statistics.figure(scale, counts, min_n)
    high, mid, low = CLASS_NAMES[scale]
    return {"metric": f.metric, "score": f.value, "margin": f.margin, "n": f.n, "too_few": f.too_few,
            high: counts.promoters, mid: counts.passives, low: counts.detractors}


def funnel(query: ScoreQuery, outcomes: OutcomeReport) -> dict[str, Any]:
    procedure = query.value if query.dimension == "procedure" else None
    counts: dict[str, int] = defaultdict(int)
    for _procedure, _day, outcome, n in outcomes.read_outcomes(query.from_day, query.to_day, procedure):
        counts[outcome] += n
    suppressed = {k.partition(":")[2]: n for k, n in counts.items() if k.startswith("suppressed:")}
    failed = {k.partition(":")[2]: n for k, n in counts.items() if k.startswith("failed:")}
    sent, delivered, answered = counts["sent"], counts["delivered"], counts["answered"] + counts["late"]
    # `deferred`: surveys put off to the send window over the period (a survey put off twice counts
    # twice); `waiting_now`: those waiting for it at this moment, whatever the period.
    return {"sent": sent, "delivered": delivered, "answered": answered, "deferred": counts["scheduled"],
            "waiting_now": outcomes.waiting(procedure),
            "suppressed": suppressed, "failed": failed,
            "delivery_rate": statistics.rate(delivered, sent), "response_rate": statistics.rate(answered, delivered)}
