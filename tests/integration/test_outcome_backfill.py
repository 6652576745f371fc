"""The one-off backfill of the outcome counters written before the by-month index
(`python -m infra.backfill_outcome_months`), on DynamoDB Local: each old counter gets its month and
shard and its expiry, the count is untouched, and a second run changes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.adapters.dynamo.outcomes import OUTCOME_SHARDS
from chalicelib.domain.scoring import stable_shard
from infra.backfill_outcome_months import Backfilled, backfill, backfill_scores, main


@pytest.fixture
def table(fresh_aws: dict[str, str], dynamodb_local: Any) -> tuple[Any, str]:
    return dynamodb_local.client(), f"{fresh_aws['KOE_RESOURCE_PREFIX']}outcomes"


def _old_counter(client: Any, table: str, procedure: str, bucket: str, n: int) -> None:
    # As koe wrote counters before the index: key and count only.
    client.put_item(TableName=table, Item={"procedure": {"S": procedure}, "bucket": {"S": bucket},
                                           "n": {"N": str(n)}})


def _item(client: Any, table: str, procedure: str, bucket: str) -> dict[str, Any]:
    key = {"procedure": {"S": procedure}, "bucket": {"S": bucket}}
    return dict(client.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"])


def test_old_counters_get_their_month_and_expiry_once(table: tuple[Any, str]) -> None:
    client, name = table
    # Given two counters from before the index, and one written since (already carrying both)
    _old_counter(client, name, "claim_payment", "2026-10-31#sent", 12)
    _old_counter(client, name, "address_change", "2026-11-01#suppressed:cooldown", 3)
    client.put_item(TableName=name, Item={
        "procedure": {"S": "claim_payment"}, "bucket": {"S": "2026-11-21#sent"}, "n": {"N": "1"},
        "month_shard": {"S": "2026-11#1"}, "expires_at": {"N": "1"}})

    # When the backfill runs with a 400-day retention
    done = backfill(client, name, timedelta(days=400))

    # Then the two old counters name their month and shard, expire 400 days after their day, keep their count
    assert done == Backfilled(updated=2, skipped=0)
    old = _item(client, name, "claim_payment", "2026-10-31#sent")
    assert old["month_shard"] == {"S": f"2026-10#{stable_shard('claim_payment', OUTCOME_SHARDS)}"}
    assert old["expires_at"] == {"N": str(int((datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=400)).timestamp()))}
    assert old["n"] == {"N": "12"}
    assert _item(client, name, "address_change", "2026-11-01#suppressed:cooldown")["month_shard"]["S"].startswith(
        "2026-11#")
    assert _item(client, name, "claim_payment", "2026-11-21#sent")["expires_at"] == {"N": "1"}    # untouched
    # And a second run finds nothing to do
    assert backfill(client, name, timedelta(days=400)) == Backfilled(updated=0, skipped=0)


def test_a_dry_run_counts_and_writes_nothing(table: tuple[Any, str]) -> None:
    client, name = table
    _old_counter(client, name, "claim_payment", "2026-10-31#sent", 12)

    assert backfill(client, name, timedelta(days=400), dry_run=True) == Backfilled(updated=1, skipped=0)
    assert "month_shard" not in _item(client, name, "claim_payment", "2026-10-31#sent")


def test_a_counter_whose_bucket_has_no_day_is_skipped_and_named(table: tuple[Any, str],
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    client, name = table
    _old_counter(client, name, "claim_payment", "not-a-day#sent", 1)

    assert backfill(client, name, timedelta(days=400)) == Backfilled(updated=0, skipped=1)
    assert "not-a-day#sent" in capsys.readouterr().err


def test_the_command_line_backfills_a_table_at_an_endpoint(table: tuple[Any, str], dynamodb_local: Any,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    client, name = table
    _old_counter(client, name, "claim_payment", "2026-10-31#sent", 12)

    assert main(["--table", name, "--endpoint-url", dynamodb_local.endpoint, "--region", dynamodb_local.region,
                 "--retention-days", "30"]) == 0

    assert "updated 1" in capsys.readouterr().out
    expires = datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=30)
    assert _item(client, name, "claim_payment", "2026-10-31#sent")["expires_at"] == {"N": str(int(expires.timestamp()))}


def test_old_score_counters_get_their_expiry_and_keep_their_counts(fresh_aws: dict[str, str],
                                                                   dynamodb_local: Any) -> None:
    client, name = dynamodb_local.client(), f"{fresh_aws['KOE_RESOURCE_PREFIX']}scores"
    key = {"dimension": {"S": "branch#2"}, "bucket": {"S": "2026-10-31#Tokyo#nps"}}
    client.put_item(TableName=name, Item={**key, "n": {"N": "4"}, "detractors": {"N": "1"}})

    assert backfill_scores(client, name, timedelta(days=400)) == Backfilled(updated=1, skipped=0)

    item = client.get_item(TableName=name, Key=key, ConsistentRead=True)["Item"]
    assert item["expires_at"] == {"N": str(int((datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=400)).timestamp()))}
    assert (item["n"], item["detractors"], "month_shard" in item) == ({"N": "4"}, {"N": "1"}, False)
    assert backfill_scores(client, name, timedelta(days=400)) == Backfilled(updated=0, skipped=0)
