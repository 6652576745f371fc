"""The scores read model: NPS and counts per procedure, branch or agent over a day range."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.domain.model import Counts
from chalicelib.domain.scoring import DIMENSIONS, nps
from chalicelib.errors import InvalidRequest
from chalicelib.services.ports import ScoreStore
from chalicelib.services.query_params import period, refuse_unknown

QUERY_PARAMETERS = frozenset({"dimension", "from", "to"})
LOW_SAMPLE = 30       # below this an NPS moves by several points per answer: flagged, not hidden


class InvalidQuery(InvalidRequest):
    """A bad query parameter; the message names it (400 at the edge)."""


@dataclass(frozen=True)
class ScoreQuery:
    dimension: str
    from_day: str
    to_day: str


def parse_query(params: Mapping[str, str] | None, today: date) -> ScoreQuery:
    params = params or {}
    refuse_unknown(params, QUERY_PARAMETERS, InvalidQuery)     # "dimesion=branch" must not report by procedure
    dimension = params.get("dimension", "procedure")
    if dimension not in DIMENSIONS:
        raise InvalidQuery(f"dimension must be one of {', '.join(DIMENSIONS)}")
    from_day, to_day = period(params, today, InvalidQuery)
    return ScoreQuery(dimension, from_day, to_day)


def report(query: ScoreQuery, store: ScoreStore) -> dict[str, Any]:
    groups: dict[str, Counts] = defaultdict(Counts)
    rows = store.read(query.dimension, query.from_day, query.to_day)
    for key, counts in rows:
        groups[key.value] = groups[key.value] + counts
    total = sum(groups.values(), Counts())
    return {
        "dimension": query.dimension,
        "from": query.from_day,
        "to": query.to_day,
        "total": _summary(total),
        "groups": [{"value": value, **_summary(c)}
                   for value, c in sorted(groups.items(), key=lambda kv: (-kv[1].n, kv[0]))],
        "items_read": len(rows),
    }


def _summary(c: Counts) -> dict[str, Any]:
    return {"n": c.n, "promoters": c.promoters, "passives": c.passives, "detractors": c.detractors,
            "nps": nps(c), "average": round(c.score_sum / c.n, 2) if c.n else None,
            "low_sample": c.n < LOW_SAMPLE}
