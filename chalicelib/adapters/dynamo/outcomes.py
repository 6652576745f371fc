"""`DynamoOutcomeReport`: the outcome counters the survey store writes with each status change
(`surveys._count_outcome`), read back for a period. One Query per procedure asked; without a
procedure, one Scan of the small counter table (procedures x days x outcomes items). The surveys
waiting for their send window now are counted on the surveys' sparse `send-at` index (only
scheduled surveys are in it): one Query with Select=COUNT."""

from __future__ import annotations

from pynamodb.expressions.condition import Condition

from chalicelib.adapters.dynamo.binding import require_bound
from chalicelib.adapters.dynamo.errors import throttling_as_retryable
from chalicelib.adapters.dynamo.models import SEND_SHARD, OutcomeItem, SurveyItem
from chalicelib.settings import Settings

OutcomeRow = tuple[str, str, str, int]       # procedure, day, outcome, count


class DynamoOutcomeReport:
    def __init__(self, settings: Settings) -> None:
        require_bound(settings)

    def read_outcomes(self, from_day: str, to_day: str, procedure: str | None = None) -> list[OutcomeRow]:
        # "$" sorts after "#": every "to_day#<outcome>" is below "to_day$".
        in_range: Condition = OutcomeItem.bucket.between(f"{from_day}#", f"{to_day}$")
        with throttling_as_retryable():
            items = (list(OutcomeItem.query(procedure, range_key_condition=in_range)) if procedure
                     else list(OutcomeItem.scan(filter_condition=in_range)))
        rows = []
        for item in items:
            day, _, outcome = item.bucket.partition("#")
            rows.append((item.procedure, day, outcome, int(item.n or 0)))
        return sorted(rows)

    def waiting(self, procedure: str | None = None) -> int:
        only = SurveyItem.procedure == procedure if procedure else None
        with throttling_as_retryable():
            return int(SurveyItem.send_index.count(SEND_SHARD, filter_condition=only))
