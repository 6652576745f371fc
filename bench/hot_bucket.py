"""One hot bucket: a busy day of one procedure, counted through the real score store on DynamoDB
Local, in stream batches of 100 answers of that day (the shape Lambda delivers). Prints what one
answer costs (transactions, counter writes), the writes per counter item per second that 2,000
answers a second would cause with the configured shards, and the rate this machine reached.

DynamoDB takes at most 1,000 write units a second per partition, and a transactional write costs 2
units per item; DynamoDB Local never throttles, so the limit is checked by arithmetic on counted
work, not by waiting for a throttle.

    .venv/bin/python bench/hot_bucket.py [--answers 20000] [--shards 4]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chalicelib.domain import scoring  # noqa: E402
from chalicelib.domain.model import Answer  # noqa: E402

AT = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)    # one fixed day: no figure depends on today
TARGET = 2_000                 # answers a second on one procedure-day
PARTITION_WCU = 1_000          # DynamoDB's write units a second per partition
TRANSACTION_WCU_PER_ITEM = 2


def batches(total: int) -> list[list[Answer]]:
    rng = random.Random(7)
    at = AT
    branches = [f"branch-{i:02d}" for i in range(20)]
    answers = [Answer(f"hot-{n}", "score", at, "claim_payment", f"C-{n}", rng.choice(["ja", "zh", "en"]),
                      {"branch": (b := rng.choice(branches)), "agent_id": f"{b}-A{rng.randint(0, 9)}"},
                      rng.randint(0, 10), channel=rng.choice(["sms_two_way", "sms_link", "email"]))
               for n in range(total)]
    return [answers[i:i + 100] for i in range(0, total, 100)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=20_000)
    parser.add_argument("--shards", type=int, default=4)
    args = parser.parse_args()

    from devstack.dynamodb_local import with_scratch_dynamodb

    return with_scratch_dynamodb(lambda server: run(server, args.answers, args.shards))


def run(server: Any, total: int, shards: int) -> int:
    from chalicelib.adapters import dynamo
    from chalicelib.adapters.dynamo.binding import MAX_TRANSACTION_ITEMS
    from devstack.provision import scratch_storage

    settings = scratch_storage(server.endpoint, "bench-hot-", ("scores", "counted-answers"))
    store = dynamo.DynamoScoreStore(settings)

    transactions, writes_per_item, items_per_partition = 0, Counter[str](), Counter[str]()
    started = time.monotonic()
    for batch in batches(total):
        items = scoring.contributions(batch, ZoneInfo("UTC"))
        for chunk in scoring.chunks(items, MAX_TRANSACTION_ITEMS):
            transactions += 1
            shard = scoring.shard_for(chunk, shards)
            for key in scoring.tally(chunk):
                writes_per_item[f"{scoring.partition(key.dimension, shard)}/{key.sort_key}"] += 1
                items_per_partition[scoring.partition(key.dimension, shard)] += 1
        store.count(items, shards, AT)
    elapsed = time.monotonic() - started

    hottest_key, hottest = items_per_partition.most_common(1)[0]
    at_target = TARGET * transactions / total                # transactions a second at 2,000 answers/s
    # What DynamoDB limits: the write units a second of one partition key, all its counters together.
    hot_wcu = at_target * (hottest / transactions) * TRANSACTION_WCU_PER_ITEM
    print(f"hot bucket: {total} answers of one procedure-day, {shards} shards, batches of 100")
    print(f"  transactions {transactions} ({total / transactions:.1f} answers each), "
          f"counter items {len(writes_per_item)} in {len(items_per_partition)} partition keys")
    print(f"  the busiest partition key ({hottest_key.split('#')[0]}, one shard) took {hottest} counter writes "
          f"({hottest / transactions:.1f} per transaction)")
    print(f"  at {TARGET} answers/s: {at_target:.0f} transactions/s; the busiest partition key takes "
          f"{hot_wcu:.0f} WCU/s of DynamoDB's {PARTITION_WCU} ({hot_wcu / PARTITION_WCU:.0%})")
    print(f"  this machine (DynamoDB Local, 2 cores): {total / elapsed:.0f} answers/s counted")
    print(f"reproduce: .venv/bin/python bench/hot_bucket.py --answers {total} --shards {shards}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
