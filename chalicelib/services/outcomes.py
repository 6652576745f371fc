"""What became of the surveys, per procedure and period: sent, deferred (scheduled), suppressed by
reason, failed by reason, reminded, answered, expired, late ... from the counters the survey store
writes in the same transaction as each status change (exact, and no request of their own)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.errors import InvalidRequest
from chalicelib.services.ports import OutcomeReport
from chalicelib.services.query_params import period, refuse_unknown

QUERY_PARAMETERS = frozenset({"from", "to", "procedure"})
BY_REASON = ("suppressed", "failed")


class InvalidOutcomeQuery(InvalidRequest):
    """A bad query parameter; the message names it (400 at the edge)."""


@dataclass(frozen=True)
class OutcomeQuery:
    from_day: str
    to_day: str
    procedure: str | None


def parse_query(params: Mapping[str, str] | None, today: date) -> OutcomeQuery:
    params = params or {}
    refuse_unknown(params, QUERY_PARAMETERS, InvalidOutcomeQuery)
    from_day, to_day = period(params, today, InvalidOutcomeQuery)
    return OutcomeQuery(from_day, to_day, params.get("procedure") or None)


def report(query: OutcomeQuery, outcomes: OutcomeReport) -> dict[str, Any]:
    per_procedure: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for procedure, _day, outcome, n in outcomes.read_outcomes(query.from_day, query.to_day, query.procedure):
        per_procedure[procedure][outcome] += n
    total: dict[str, int] = defaultdict(int)
    for counts in per_procedure.values():
        for outcome, n in counts.items():
            total[outcome] += n
    return {
        "from": query.from_day, "to": query.to_day, "procedure": query.procedure,
        "total": _summary(total),
        "procedures": [{"procedure": p, **_summary(c)} for p, c in sorted(per_procedure.items())],
    }


def _summary(counts: Mapping[str, int]) -> dict[str, Any]:
    """`suppressed` and `failed` by reason; `deferred` is the surveys scheduled for the send window."""
    summary: dict[str, Any] = {kind: {} for kind in BY_REASON}
    for outcome, n in sorted(counts.items()):
        kind, _, reason = outcome.partition(":")
        if kind in BY_REASON:
            summary[kind][reason] = n
        else:
            summary["deferred" if kind == "scheduled" else kind] = n
    return summary
