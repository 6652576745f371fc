"""A score query reads a number of counters that depends on the period and the groups asked, never
on the number of answers: 1,000 and then 10,000 answers through the real store (DynamoDB Local),
the same report shape, the items read bounded by days x groups x scales x shards at both volumes
(and equal once every shard has been written). Answers arrive as the stream delivers them: batches
of up to 100, each of one day. Each volume has its own days, so the two never share a counter."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import scoring
from chalicelib.domain.model import Answer
from chalicelib.services.scores import ScoreQuery, report
from chalicelib.settings import from_env
from tests.integration.test_store_contract import _REQUIRED_SETTINGS

DAYS = 7
PROCEDURES = ("claim_payment", "new_policy", "address_change")
BRANCHES = ("tokyo-chuo", "osaka-kita", "shanghai-01", "new-york-01")
AGENTS = {branch: [f"{branch}-A{i}" for i in range(3)] for branch in BRANCHES}
SHARDS = 4


def batches(total: int, first_day: date, seed: int) -> list[list[Answer]]:
    """`total` score answers spread evenly over DAYS days, as stream batches of 100 of one day."""
    rng = random.Random(seed)
    found: list[list[Answer]] = []
    for day in range(DAYS):
        at = datetime(first_day.year, first_day.month, first_day.day, 3, tzinfo=UTC) + timedelta(days=day)
        day_answers = []
        for n in range(total // DAYS):
            branch = rng.choice(BRANCHES)
            day_answers.append(Answer(
                f"vol{seed}-{day}-{n}", "score", at, rng.choice(PROCEDURES), f"C-{n}", rng.choice(["ja", "zh", "en"]),
                {"branch": branch, "agent_id": rng.choice(AGENTS[branch])}, rng.randint(0, 10),
                channel=rng.choice(["sms_two_way", "sms_link", "email"])))
        found += [day_answers[i:i + 100] for i in range(0, len(day_answers), 100)]
    return found


COUNTED_AT = datetime(2026, 11, 18, 3, 0, tzinfo=UTC)     # when the batches are counted: a fixed instant


@pytest.fixture(scope="module")
def store(local_aws: dict[str, str]) -> Any:
    from chalicelib.adapters import dynamo

    settings = from_env({**_REQUIRED_SETTINGS, **local_aws})
    dynamo.configure(settings)
    return dynamo.DynamoScoreStore(settings)


def load(store: Any, total: int, first_day: date) -> int:
    counted = 0
    for batch in batches(total, first_day, seed=total):
        counted += store.count(scoring.contributions(batch, ZoneInfo("UTC")), SHARDS, COUNTED_AT)
    return counted


def read(store: Any, first_day: date, dimension: str) -> tuple[dict[str, Any], int]:
    before = store.items_read
    query = ScoreQuery(dimension, first_day.isoformat(), (first_day + timedelta(days=DAYS - 1)).isoformat(),
                       period="day")
    body = report(query, store, None, min_n=30, shards=SHARDS)
    assert body["items_read"] == store.items_read - before
    return body, body["items_read"]


@pytest.mark.parametrize("dimension, groups", [("procedure", len(PROCEDURES)), ("branch", len(BRANCHES))])
def test_items_read_depend_on_the_period_and_groups_not_on_the_answers(store: Any, dimension: str,
                                                                       groups: int) -> None:
    small, large = date(2026, 9, 1), date(2026, 10, 1)
    if dimension == "procedure":          # load once for both parametrised reads
        assert load(store, 1_000, small) == 994          # 142 a day (1,000 // 7) x 7 days
        assert load(store, 10_000, large) == 9_996       # 1,428 a day x 7 days
    small_body, small_items = read(store, small, dimension)
    large_body, large_items = read(store, large, dimension)

    bound = DAYS * groups * SHARDS                     # one scale (nps) here
    assert small_items <= bound and large_items <= bound
    assert large_items == bound                        # 10,000 answers wrote every shard of every group-day
    assert small_body["results"][0]["total"]["n"] == 994 and large_body["results"][0]["total"]["n"] == 9_996
    # ten times the answers, at most the same counters read: the cost is the period's and the groups'
    assert large_items <= small_items * SHARDS
