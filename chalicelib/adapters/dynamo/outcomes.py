"""`DynamoOutcomeReport`: the outcome counters the survey store writes with each status change
(`surveys._count_outcome`), read back for a period, and the counters' storage keys.

One procedure's counters are one Query of its partition. Every procedure's (the /v1/scores, /v1/outcomes
and dashboard reads, on each request) are read through the `by-month` index: each counter names its
UTC month and a shard of its procedure (`month_shard` = `YYYY-MM#k`), so a period costs one Query per
month and shard it touches (a 30-day period: 2 months x OUTCOME_SHARDS), and reads only the period's
counters however long the table has been written. Never a Scan. The shards spread a month's
increments (every survey's outcomes land in the index) over OUTCOME_SHARDS partitions, each well under
a partition's 1,000 writes a second. Counters written before the index are backfilled once with
`python -m infra.backfill_outcome_months` (docs/operations.md).

The surveys waiting for their send window now are counted on the surveys' sparse `send-at` index (only
scheduled surveys are in it): one Query with Select=COUNT."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo.binding import require_bound
from chalicelib.adapters.dynamo.errors import throttling_as_retryable
from chalicelib.adapters.dynamo.models import SEND_SHARD, OutcomeItem, SurveyItem
from chalicelib.domain.scoring import stable_shard
from chalicelib.settings import Settings

OutcomeRow = tuple[str, str, str, int]       # procedure, day, outcome, count
OUTCOME_SHARDS = 4


def month_shard(procedure: str, day: str) -> str:
    """The by-month partition of a procedure's counter of `day` (YYYY-MM-DD): `YYYY-MM#k`."""
    return f"{day[:7]}#{stable_shard(procedure, OUTCOME_SHARDS)}"


def counter_expiry(day: str, retention: timedelta) -> datetime:
    """When a counter of `day` expires: the end of the day (UTC) plus the retention, the same
    whichever write of the day makes it."""
    return datetime.combine(date.fromisoformat(day) + timedelta(days=1), time(), UTC) + retention


def counter_increment(procedure: str, bucket: str, retention: timedelta) -> list[Action]:
    """+1 to a counter (bucket = YYYY-MM-DD#outcome), naming its month for the index and its expiry."""
    day = bucket[:10]
    return [OutcomeItem.n.add(1), OutcomeItem.month_shard.set(month_shard(procedure, day)),
            OutcomeItem.expires_at.set(counter_expiry(day, retention))]


def months(from_day: str, to_day: str) -> list[str]:
    """The months (YYYY-MM) from from_day's to to_day's, oldest first; none when the range is empty."""
    if from_day > to_day:
        return []
    year, month = int(from_day[:4]), int(from_day[5:7])
    found = []
    while f"{year:04d}-{month:02d}" <= to_day[:7]:
        found.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


class DynamoOutcomeReport:
    def __init__(self, settings: Settings) -> None:
        require_bound(settings)

    def read_outcomes(self, from_day: str, to_day: str, procedure: str | None = None) -> list[OutcomeRow]:
        # "$" sorts after "#": every "to_day#<outcome>" is below "to_day$".
        in_range: Condition = OutcomeItem.bucket.between(f"{from_day}#", f"{to_day}$")
        items: list[OutcomeItem] = []
        with throttling_as_retryable():
            if procedure:
                items += OutcomeItem.query(procedure, range_key_condition=in_range)
            else:
                for month in months(from_day, to_day):
                    for shard in range(OUTCOME_SHARDS):
                        items += OutcomeItem.by_month.query(f"{month}#{shard}", range_key_condition=in_range)
        rows = []
        for item in items:
            day, _, outcome = item.bucket.partition("#")
            rows.append((item.procedure, day, outcome, int(item.n or 0)))
        return sorted(rows)

    def waiting(self, procedure: str | None = None) -> int:
        only = SurveyItem.procedure == procedure if procedure else None
        with throttling_as_retryable():
            return int(SurveyItem.send_index.count(SEND_SHARD, filter_condition=only))
