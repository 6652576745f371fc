"""Give the outcome counters written before the `by-month` index their month and expiry, once.

    python -m ops.backfill_outcome_months --table koe-prod-outcomes [--region ap-northeast-1]
        [--retention-days 400] [--dry-run] [--endpoint-url URL]

koe reads every procedure's counters through the `by-month` index (adapters/dynamo/outcomes.py); a
counter without `month_shard` is not in it, so /v1/scores, /v1/outcomes and the dashboard's funnel
leave it out until this has run. Each such counter gets `month_shard` (its UTC month and its
procedure's shard) and, unless it has one, `expires_at` (the end of its day plus --retention-days:
give the stage's KOE_COUNTER_RETENTION_DAYS). The count is not touched, and the update is
conditional on the item still existing, so it runs safely beside koe's own increments, and twice.
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

MISSING = "attribute_not_exists(month_shard) OR attribute_not_exists(expires_at)"


@dataclass(frozen=True)
class Backfilled:
    updated: int          # counters given their month and expiry (with dry_run: that would be)
    skipped: int          # counters whose bucket does not start with a day (named on stderr), or gone meanwhile


def backfill(dynamodb: Any, table: str, retention: timedelta, *, dry_run: bool = False) -> Backfilled:
    updated = skipped = 0
    pages = dynamodb.get_paginator("scan").paginate(
        TableName=table, FilterExpression=MISSING, ProjectionExpression="#p, #b",
        ExpressionAttributeNames={"#p": "procedure", "#b": "bucket"})
    for page in pages:
        for item in page["Items"]:
            procedure, bucket = item["procedure"]["S"], item["bucket"]["S"]
            try:
                values = {":m": {"S": month_shard(procedure, bucket[:10])},
                          ":e": {"N": str(int(counter_expiry(bucket[:10], retention).timestamp()))}}
            except ValueError:
                print(f"skipped {procedure} {bucket}: the bucket does not start with a day", file=sys.stderr)
                skipped += 1
                continue
            if dry_run:
                updated += 1
                continue
            try:
                dynamodb.update_item(
                    TableName=table, Key={"procedure": {"S": procedure}, "bucket": {"S": bucket}},
                    UpdateExpression="SET month_shard = :m, expires_at = if_not_exists(expires_at, :e)",
                    ConditionExpression="attribute_exists(#p)", ExpressionAttributeNames={"#p": "procedure"},
                    ExpressionAttributeValues=values)
            except dynamodb.exceptions.ConditionalCheckFailedException:
                skipped += 1            # expired or deleted since the scan read it: nothing to give
                continue
            updated += 1
    return Backfilled(updated, skipped)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ops.backfill_outcome_months", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--table", required=True, help="the stage's outcomes table, e.g. koe-prod-outcomes")
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
    done = backfill(dynamodb, args.table, timedelta(days=args.retention_days), dry_run=args.dry_run)
    verb = "would update" if args.dry_run else "updated"
    print(f"{args.table}: {verb} {done.updated} counters, skipped {done.skipped}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
