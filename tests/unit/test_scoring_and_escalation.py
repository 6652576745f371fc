"""NPS arithmetic, buckets per dimension and day, and when a score escalates."""

from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain import escalation
from chalicelib.domain.model import Answer, Counts
from chalicelib.domain.phone import mask
from chalicelib.domain.scoring import BucketKey, counts_for, nps, tally

UTC = ZoneInfo("UTC")
AT = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)


def answer(score, question="score", survey="s1", context=None, threshold=6, text=None):
    return Answer(survey, question, AT, "claim_payment", "C-1", "en",
                  context if context is not None else {"branch": "tokyo-chuo", "agent_id": "A-102"},
                  score, text, threshold, "+1******0123")


def test_categories():
    assert counts_for(10) == Counts(1, 1, 0, 0, 10)
    assert counts_for(7) == Counts(1, 0, 1, 0, 7)
    assert counts_for(6) == Counts(1, 0, 0, 1, 6)


def test_nps_is_percent_promoters_minus_percent_detractors():
    assert nps(Counts(n=4, promoters=2, passives=1, detractors=1)) == 25.0
    assert nps(Counts()) is None


def test_a_batch_is_tallied_once_per_bucket():
    totals = tally([answer(9, survey="a"), answer(3, survey="b"), answer(None, "comment")], UTC)
    assert totals[BucketKey("procedure", "2026-11-21", "claim_payment")] == Counts(2, 1, 0, 1, 12)
    assert set(k.dimension for k in totals) == {"procedure", "branch", "agent"}


def test_days_are_counted_in_the_reporting_time_zone():
    totals = tally([answer(9)], ZoneInfo("Asia/Tokyo"))          # 15:30 UTC is 00:30 next day in Tokyo
    assert {k.day for k in totals} == {"2026-11-22"}


def test_missing_branch_or_agent_is_not_a_bucket():
    assert {k.dimension for k in tally([answer(9, context={})], UTC)} == {"procedure"}


def test_below_threshold_uses_the_threshold_in_force_when_answered():
    assert escalation.below_threshold(answer(6))
    assert not escalation.below_threshold(answer(7))
    assert escalation.below_threshold(answer(7, threshold=7))           # per-procedure threshold


def test_masking_keeps_the_country_and_the_last_four_digits():
    assert mask("+15550100123") == "+1******0123"
    assert mask("+819012345678") == "+81******5678"
    assert mask(None) is None


