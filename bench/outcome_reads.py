"""What reading every procedure's outcome counters for a period costs (the read behind /v1/scores,
/v1/outcomes and the dashboard's funnel, on every request): the Scan koe made before the `by-month`
index against the Queries it makes now, on DynamoDB Local, over a table holding a full retention's
counters (procedures x days x outcomes). Prints requests, items DynamoDB read (ScannedCount), items
returned, and the read units they cost (eventually consistent: 4 KB per 0.5 unit, per page).

    .venv/bin/python bench/outcome_reads.py [--procedures 5] [--days 400] [--outcomes 8] [--period 30]
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LAST_DAY = date(2026, 11, 20)       # a fixed day (a 30-day period spans two months): no figure depends on today
OUTCOMES = ("scheduled", "sent", "delivered", "answered", "expired", "suppressed:cooldown", "failed:30006",
            "suppressed:fatigue_cap", "opted_out", "late")


@dataclass
class Tally:
    requests: list[str] = field(default_factory=list)
    scanned: int = 0
    returned: int = 0
    units: float = 0.0

    def record(self, http_response: Any, parsed: Any, model: Any, **_: Any) -> None:
        self.requests.append(model.name)
        self.scanned += int(parsed.get("ScannedCount", 0))
        self.returned += int(parsed.get("Count", 0))
        self.units += float(parsed.get("ConsumedCapacity", {}).get("CapacityUnits", 0.0))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--procedures", type=int, default=5)
    parser.add_argument("--days", type=int, default=400)
    parser.add_argument("--outcomes", type=int, default=8, choices=range(1, len(OUTCOMES) + 1))
    parser.add_argument("--period", type=int, default=30)
    args = parser.parse_args()

    from devstack.dynamodb_local import with_scratch_dynamodb

    return with_scratch_dynamodb(lambda server: run(server, args.procedures, args.days, args.outcomes, args.period))


def run(server: Any, procedures: int, days: int, outcomes: int, period: int) -> int:
    from chalicelib.adapters import dynamo
    from chalicelib.adapters.dynamo.binding import shared_connection
    from chalicelib.adapters.dynamo.models import OutcomeItem
    from chalicelib.adapters.dynamo.outcomes import OUTCOME_SHARDS, counter_expiry, month_shard
    from devstack.provision import scratch_storage

    settings = scratch_storage(server.endpoint, "bench-out-", ("surveys", "outcomes"))
    connection = shared_connection()            # the one scratch_storage bound the models to
    report = dynamo.DynamoOutcomeReport(settings)

    names = [f"procedure_{p}" for p in range(procedures)]
    retention = timedelta(days=settings.counter_retention_days)
    with OutcomeItem.batch_write() as batch:
        for name in names:
            for back in range(days):
                day = (LAST_DAY - timedelta(days=back)).isoformat()
                for outcome in OUTCOMES[:outcomes]:
                    batch.save(OutcomeItem(name, f"{day}#{outcome}", n=17, month_shard=month_shard(name, day),
                                           expires_at=counter_expiry(day, retention)))
    stored = procedures * days * outcomes
    from_day, to_day = (LAST_DAY - timedelta(days=period - 1)).isoformat(), LAST_DAY.isoformat()

    def measure(read: Any) -> tuple[Tally, int]:
        tally = Tally()
        events = connection.client.meta.events
        events.register("after-call.dynamodb", tally.record)
        try:
            rows = len(read())
        finally:
            events.unregister("after-call.dynamodb", tally.record)
        return tally, rows

    def scan_as_before() -> list[Any]:
        in_range = OutcomeItem.bucket.between(f"{from_day}#", f"{to_day}$")
        return list(OutcomeItem.scan(filter_condition=in_range))

    before, rows_before = measure(scan_as_before)
    after, rows_after = measure(lambda: report.read_outcomes(from_day, to_day))
    assert rows_before == rows_after == procedures * period * outcomes, (rows_before, rows_after)

    print(f"outcome counters stored: {stored} ({procedures} procedures x {days} days x {outcomes} outcomes); "
          f"read: every procedure, {period} days ({from_day}..{to_day}), {rows_after} counters")
    for label, tally in (("before: Scan + filter", before), (f"now: by-month, {OUTCOME_SHARDS} shards", after)):
        kinds = sorted(set(tally.requests))
        print(f"  {label:28s} requests {len(tally.requests):3d} ({'/'.join(kinds)}), items read "
              f"{tally.scanned:6d}, returned {tally.returned:5d}, read units "
              f"{_units(tally) if not tally.units else tally.units:.1f}")
    print(f"reproduce: .venv/bin/python bench/outcome_reads.py --procedures {procedures} --days {days} "
          f"--outcomes {outcomes} --period {period}")
    return 0


def _units(tally: Tally) -> float:
    """DynamoDB Local reports no capacity: estimate ~60 bytes a counter item, 0.5 unit per 4 KB a page."""
    return math.ceil(tally.scanned * 60 / 4096) * 0.5


if __name__ == "__main__":
    sys.exit(main())
