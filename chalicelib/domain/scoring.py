"""NPS arithmetic and the buckets a score is counted in (procedure, branch, agent per day).

NPS: promoters 9-10, passives 7-8, detractors 0-6; NPS = %promoters - %detractors (-100..100).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from chalicelib.domain.model import Answer, Counts

# dimension -> where its value comes from on an answer
DIMENSIONS: dict[str, str] = {"procedure": "procedure", "branch": "context.branch", "agent": "context.agent_id"}


@dataclass(frozen=True)
class BucketKey:
    dimension: str
    day: str          # YYYY-MM-DD in the reporting time zone
    value: str

    @property
    def sort_key(self) -> str:
        return f"{self.day}#{self.value}"


PROMOTER_FROM = 9      # NPS: 9-10 promoters, 7-8 passives, 0-6 detractors
PASSIVE_FROM = 7


def counts_for(score: int) -> Counts:
    return Counts(
        n=1,
        promoters=int(score >= PROMOTER_FROM),
        passives=int(PASSIVE_FROM <= score < PROMOTER_FROM),
        detractors=int(score < PASSIVE_FROM),
        score_sum=score,
    )


def _value(answer: Answer, dimension: str) -> str | None:
    source = DIMENSIONS[dimension]
    if source.startswith("context."):
        return answer.context.get(source.removeprefix("context.")) or None
    value = getattr(answer, source)
    return str(value) if value else None


def buckets_of(answer: Answer, tz: ZoneInfo) -> list[BucketKey]:
    day = answer.received_at.astimezone(tz).date().isoformat()
    return [BucketKey(dim, day, value) for dim in DIMENSIONS if (value := _value(answer, dim))]


def tally(answers: Iterable[Answer], tz: ZoneInfo) -> dict[BucketKey, Counts]:
    """One entry per bucket for a whole batch: the aggregator writes each bucket once."""
    totals: dict[BucketKey, Counts] = defaultdict(Counts)
    for answer in answers:
        if answer.question != "score" or answer.score is None or answer.late:
            continue                 # a late answer is kept (and escalates), but is not counted
        for key in buckets_of(answer, tz):
            totals[key] = totals[key] + counts_for(answer.score)
    return dict(totals)


def nps(counts: Counts) -> float | None:
    if counts.n == 0:
        return None
    return round(100.0 * (counts.promoters - counts.detractors) / counts.n, 1)

