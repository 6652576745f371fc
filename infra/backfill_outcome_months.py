"""Give the outcome counters written before the `by-month` index their month and expiry, once.

    python -m infra.backfill_outcome_months --table koe-prod-outcomes [--scores-table koe-prod-scores]
        [--region ap-northeast-1] [--retention-days 400] [--dry-run] [--endpoint-url URL]

koe reads every procedure's counters through the `by-month` index (adapters/dynamo/outcomes.py); a
counter without `month_shard` is not in it, so /v1/scores, /v1/outcomes and the dashboard's funnel
leave it out until this has run. Each such counter gets `month_shard` (its UTC month and its
procedure's shard) and, unless it has one, `expires_at` (the end of its day plus --retention-days:
give the stage's KOE_COUNTER_RETENTION_DAYS); with --scores-table, each score counter without
`expires_at` gets one the same way (scores need no month: they are read by key). The counts are not
touched, and each update is conditional on the item still existing, so it runs safely beside koe's
own increments, and twice.
A counter older than the retention gets an expiry in the past: DynamoDB's TTL deletes it (within
days), as it would have had it been written with one. This reads the whole table once (a Scan): an
operator's one-off, never koe's request path.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from chalicelib.adapters.dynamo.outcomes import counter_expiry, month_shard


@dataclass(frozen=True)
class Backfilled:
    updated: int          # counters given what they lacked (with dry_run: that would be)
    skipped: int          # counters whose bucket does not start with a day (named on stderr), or gone meanwhile


@dataclass(frozen=True)
class _Counters:
    hash_key: str
    missing: str          # the filter: counters lacking what this gives
    update: str


OUTCOMES = _Counters("procedure", "attribute_not_exists(month_shard) OR attribute_not_exists(expires_at)",
                     "SET month_shard = :m, expires_at = if_not_exists(expires_at, :e)")
SCORES = _Counters("dimension", "attribute_not_exists(expires_at)", "SET expires_at = :e")


def backfill(dynamodb: Any, table: str, retention: timedelta, *, dry_run: bool = False) -> Backfilled:
    """The outcomes table: month_shard and expires_at."""
    return _backfill(dynamodb, table, OUTCOMES, retention, dry_run)


def backfill_scores(dynamodb: Any, table: str, retention: timedelta, *, dry_run: bool = False) -> Backfilled:
    """The scores table (bucket = YYYY-MM-DD#value#scale[#shard]): expires_at."""
    return _backfill(dynamodb, table, SCORES, retention, dry_run)


def _backfill(dynamodb: Any, table: str, counters: _Counters, retention: timedelta, dry_run: bool) -> Backfilled:
    updated = skipped = 0
    names = {"#h": counters.hash_key, "#b": "bucket"}
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression=counters.missing, ProjectionExpression="#h, #b",
        ExpressionAttributeNames=names)
    for page in pages:
        for item in page["Items"]:
            partition, bucket = item[counters.hash_key]["S"], item["bucket"]["S"]
            try:
                values = {":m": {"S": month_shard(partition, bucket[:10])},
                          ":e": {"N": str(int(counter_expiry(bucket[:10], retention).timestamp()))}}
            except ValueError:
                print(f"skipped {partition} {bucket}: the bucket does not start with a day", file=sys.stderr)
                skipped += 1
                continue
            if dry_run:
                updated += 1
                continue
            try:
                dynamodb.update_item(
                    TableName=table, Key={counters.hash_key: {"S": partition}, "bucket": {"S": bucket}},
                    UpdateExpression=counters.update, ConditionExpression="attribute_exists(#h)",
                    ExpressionAttributeNames={"#h": counters.hash_key},
                    ExpressionAttributeValues={k: v for k, v in values.items() if k in counters.update})
            except dynamodb.exceptions.ConditionalCheckFailedException:
                skipped += 1            # expired or deleted since the scan read it: nothing to give
                continue
            updated += 1
    return Backfilled(updated, skipped)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.backfill_outcome_months", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="the stage's outcomes table, e.g. koe-prod-outcomes")
    parser.add_argument("--scores-table", default=None,
                        help="also give the stage's score counters their expiry, e.g. koe-prod-scores")
    parser.add_argument("--region", default=None, help="its region (default: the AWS configuration's)")
    parser.add_argument("--endpoint-url", default=None, help="another DynamoDB endpoint (DynamoDB Local)")
    parser.add_argument("--retention-days", type=int, default=400,
                        help="the stage's KOE_COUNTER_RETENTION_DAYS (default 400)")
    parser.add_argument("--dry-run", action="store_true", help="count the counters to backfill, write nothing")
    args = parser.parse_args(argv)
    if args.retention_days < 1:
        parser.error("--retention-days must be >= 1")

    import boto3

    dynamodb = boto3.client("dynamodb", region_name=args.region, endpoint_url=args.endpoint_url)
    retention, verb = timedelta(days=args.retention_days), "would update" if args.dry_run else "updated"
    done = backfill(dynamodb, args.table, retention, dry_run=args.dry_run)
    print(f"{args.table}: {verb} {done.updated} counters, skipped {done.skipped}")
    if args.scores_table:
        done = backfill_scores(dynamodb, args.scores_table, retention, dry_run=args.dry_run)
        print(f"{args.scores_table}: {verb} {done.updated} counters, skipped {done.skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
