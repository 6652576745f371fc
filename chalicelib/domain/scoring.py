"""Which counters an answer moves, and how a batch is split into exactly-once writes.

A score answer is counted in one bucket per dimension — procedure, branch, agent, channel, locale,
and the procedure, agent, channel and locale *within its branch* (so a branch manager reads their
branch without reading the others) — per day in the reporting time zone, per
scale (domain/questions.py), in one of `shards` partitions of its dimension. Each counter holds n,
the three classes of its scale, the sum and the sum of squares of the scores (for means and
margins; domain/statistics.py).

An answer without a value for a dimension (no agent: a web survey, a walk-in; no branch) is counted
in that dimension's NO_VALUE group, never left out: every breakdown of a scope and period adds up to
the same total, so the headline never depends on the breakdown chosen.

Classes per scale (`high`/`mid`/`low` are stored as promoters/passives/detractors):
  nps  promoters 9-10, passives 7-8, detractors 0-6
  csat satisfied 4-5, neutral 3, dissatisfied 1-2
  ces  easy 5-7, neutral 4, difficult 1-3

Exactly once per answer: the store writes, in one transaction, a ledger item per answer (on
condition it is new) and the batch's summed increments per bucket; answers already in the ledger
are taken out and the rest written again. `chunks` splits a batch so that each transaction holds at
most `max_items` items (answers + buckets): each bucket is still written once per chunk.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from chalicelib.domain.model import Answer, Counts
from chalicelib.domain.questions import Scale, scale_of

# dimension -> where its value comes from on an answer
DIMENSIONS: dict[str, str] = {"procedure": "procedure", "branch": "context.branch", "agent": "context.agent_id",
                              "channel": "channel", "locale": "locale"}
# The dimensions also counted within the answer's branch: "<dimension>|branch=<branch>".
WITHIN_BRANCH = ("procedure", "agent", "channel", "locale")
# The group of the answers without a value for a dimension ("no agent"): stored as an empty value
# (`YYYY-MM-DD##nps`), which no real value can be; the API shows it as null.
NO_VALUE = ""

PROMOTER_FROM = 9      # NPS: 9-10 promoters, 7-8 passives, 0-6 detractors
PASSIVE_FROM = 7
# (high from, mid from) per scale: high >= first, mid >= second, low below.
CLASSES: dict[Scale, tuple[int, int]] = {Scale.NPS: (PROMOTER_FROM, PASSIVE_FROM), Scale.CSAT: (4, 3),
                                         Scale.CES: (5, 4)}


@dataclass(frozen=True)
class BucketKey:
    dimension: str     # a DIMENSIONS key, or "<dimension>|branch=<branch>"
    day: str           # YYYY-MM-DD in the reporting time zone
    value: str
    scale: str = Scale.NPS.value

    @property
    def sort_key(self) -> str:
        return f"{self.day}#{self.value}#{self.scale}"


def partition(dimension: str, shard: int) -> str:
    """The counters' partition key: the dimension, sharded. DynamoDB's write limit is per partition
    (1,000 units a second), and one dimension's counters of a busy day are written by every
    transaction: shard `s` of a dimension is `<dimension>#s` (shard 0 keeps the plain name)."""
    return dimension if shard == 0 else f"{dimension}#{shard}"


def within_branch(dimension: str, branch: str) -> str:
    return f"{dimension}|branch={branch}"


def counts_for(score: int, scale: Scale = Scale.NPS) -> Counts:
    high_from, mid_from = CLASSES[scale]
    return Counts(n=1, promoters=int(score >= high_from), passives=int(mid_from <= score < high_from),
                  detractors=int(score < mid_from), score_sum=score, score_sq_sum=score * score)


def _value(answer: Answer, dimension: str) -> str:
    """The answer's value for `dimension`, NO_VALUE when it has none."""
    source = DIMENSIONS[dimension]
    if source.startswith("context."):
        return answer.context.get(source.removeprefix("context.")) or NO_VALUE
    value = getattr(answer, source)
    return str(value) if value else NO_VALUE


def buckets_of(answer: Answer, tz: ZoneInfo) -> list[BucketKey]:
    """One bucket per dimension (NO_VALUE's where the answer has no value), and per dimension within
    the answer's branch when it has one (an answer of no branch is in no branch's scope)."""
    day = answer.received_at.astimezone(tz).date().isoformat()
    scale = scale_of(answer.scale).value
    keys = [BucketKey(dim, day, _value(answer, dim), scale) for dim in DIMENSIONS]
    branch = _value(answer, "branch")
    if branch != NO_VALUE:
        keys += [BucketKey(within_branch(dim, branch), day, _value(answer, dim), scale) for dim in WITHIN_BRANCH]
    return keys


def counted(answer: Answer) -> bool:
    """Only scores count; a late answer is kept (and escalates) but is out of the scores."""
    return answer.question == "score" and answer.score is not None and not answer.late


def answer_id(answer: Answer) -> str:
    return f"{answer.survey_id}#{answer.question}"


@dataclass(frozen=True)
class Contribution:
    """One answer's increments: what the ledger records once and the counters add once."""

    answer_id: str
    buckets: tuple[tuple[BucketKey, Counts], ...]


def contributions(answers: Iterable[Answer], tz: ZoneInfo) -> list[Contribution]:
    found: dict[str, Contribution] = {}
    for answer in answers:
        if counted(answer) and answer.score is not None:
            counts = counts_for(answer.score, scale_of(answer.scale))
            found[answer_id(answer)] = Contribution(answer_id(answer),
                                                    tuple((key, counts) for key in buckets_of(answer, tz)))
    return list(found.values())     # an answer twice in one batch (a re-delivery) counts once


def tally(items: Iterable[Contribution]) -> dict[BucketKey, Counts]:
    """The summed increments per bucket: each bucket is written once."""
    totals: dict[BucketKey, Counts] = defaultdict(Counts)
    for contribution in items:
        for key, counts in contribution.buckets:
            totals[key] = totals[key] + counts
    return dict(totals)


def chunks(items: Sequence[Contribution], max_items: int) -> list[list[Contribution]]:
    """Consecutive groups whose answers plus distinct buckets fit one transaction of `max_items`."""
    groups: list[list[Contribution]] = []
    current: list[Contribution] = []
    keys: set[BucketKey] = set()
    for item in items:
        mine = {key for key, _ in item.buckets}
        if current and len(current) + 1 + len(keys | mine) > max_items:
            groups.append(current)
            current, keys = [], set()
        if 1 + len(mine) > max_items:
            raise ValueError(f"one answer moves {len(mine)} buckets: more than a transaction holds")
        current.append(item)
        keys |= mine
    if current:
        groups.append(current)
    return groups


def shard_for(items: Sequence[Contribution], shards: int) -> int:
    """The counter shard a chunk writes to: spread by its first answer, the same on a retry."""
    if not items:
        return 0
    return stable_shard(items[0].answer_id, shards)


def stable_shard(key: str, shards: int) -> int:
    """One of `shards` partitions for `key`, the same in every process (unlike hash(), which is
    salted per interpreter): the first 4 bytes of its SHA-256, modulo `shards`."""
    if shards <= 1:
        return 0
    digest = hashlib.sha256(key.encode()).digest()
    return int.from_bytes(digest[:4], "big") % shards


def nps(counts: Counts) -> float | None:
    if counts.n == 0:
        return None
    return round(100.0 * (counts.promoters - counts.detractors) / counts.n, 1)
