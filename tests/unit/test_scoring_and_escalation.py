"""NPS arithmetic, buckets per dimension and day, and when a score escalates."""

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from chalicelib.domain import escalation
from chalicelib.domain.model import Answer, Counts
from chalicelib.domain.phone import mask
from chalicelib.domain.questions import Scale
from chalicelib.domain.scoring import NO_VALUE, BucketKey, chunks, contributions, counts_for, nps, shard_for, tally

UTC = ZoneInfo("UTC")
AT = datetime(2026, 11, 21, 15, 30, tzinfo=UTC)


def answer(score, question="score", survey="s1", context=None, threshold=6, text=None):
    return Answer(survey, question, AT, "claim_payment", "C-1", "en",
                  context if context is not None else {"branch": "tokyo-chuo", "agent_id": "A-102"},
                  score, text, threshold, "+1******0123")


def test_categories_per_scale():
    assert counts_for(10) == Counts(1, 1, 0, 0, 10, 100)
    assert counts_for(7) == Counts(1, 0, 1, 0, 7, 49)
    assert counts_for(6) == Counts(1, 0, 0, 1, 6, 36)
    classes = [(c.promoters, c.passives, c.detractors) for c in (counts_for(s, Scale.CSAT) for s in (5, 4, 3, 2, 1))]
    assert classes == [(1, 0, 0), (1, 0, 0), (0, 1, 0), (0, 0, 1), (0, 0, 1)]
    assert [(counts_for(s, Scale.CES).promoters, counts_for(s, Scale.CES).detractors) for s in (7, 5, 4, 3, 1)] == [
        (1, 0), (1, 0), (0, 0), (0, 1), (0, 1)]


def test_nps_is_percent_promoters_minus_percent_detractors():
    assert nps(Counts(n=4, promoters=2, passives=1, detractors=1)) == 25.0
    assert nps(Counts()) is None


def totals_of(answers, tz=UTC):
    return tally(contributions(answers, tz))


def test_a_batch_is_tallied_once_per_bucket_and_each_answer_once():
    a, b = answer(9, survey="a"), answer(3, survey="b")
    totals = totals_of([a, b, answer(None, "comment"), a])          # a re-delivered in the same batch
    assert totals[BucketKey("procedure", "2026-11-21", "claim_payment", "nps")] == Counts(2, 1, 0, 1, 12, 90)
    assert {k.dimension for k in totals} == {"procedure", "branch", "agent", "channel", "locale",
                                             "procedure|branch=tokyo-chuo", "agent|branch=tokyo-chuo",
                                             "channel|branch=tokyo-chuo", "locale|branch=tokyo-chuo"}
    assert totals[BucketKey("channel", "2026-11-21", NO_VALUE, "nps")].n == 2      # no channel: counted, not dropped


def test_days_are_counted_in_the_reporting_time_zone():
    totals = totals_of([answer(9)], ZoneInfo("Asia/Tokyo"))          # 15:30 UTC is 00:30 next day in Tokyo
    assert {k.day for k in totals} == {"2026-11-22"}


def test_an_answer_without_a_branch_or_agent_is_counted_in_their_no_value_group_and_in_no_branch():
    keys = set(totals_of([answer(9, context={})]))
    assert {k.dimension for k in keys} == {"procedure", "branch", "agent", "channel", "locale"}
    assert {k.value for k in keys if k.dimension in ("branch", "agent", "channel")} == {NO_VALUE}


def test_the_scale_and_the_channel_are_part_of_the_bucket():
    csat = replace(answer(4), scale="csat", channel="sms_link")
    keys = set(totals_of([csat]))
    assert BucketKey("channel", "2026-11-21", "sms_link", "csat") in keys
    assert all(k.scale == "csat" for k in keys)


def test_a_batch_splits_into_transactions_that_fit_and_write_each_bucket_once_per_chunk():
    answers = [answer(9, survey=f"s{i}", context={"branch": f"b{i % 3}", "agent_id": f"A-{i}"}) for i in range(60)]
    items = contributions(answers, UTC)
    groups = chunks(items, 100)
    assert sum(len(g) for g in groups) == 60 and len(groups) > 1
    for group in groups:
        assert len(group) + len(tally(group)) <= 100
    assert shard_for(groups[0], 4) == shard_for(groups[0], 4) < 4 and shard_for(groups[0], 1) == 0


def test_below_threshold_uses_the_threshold_in_force_when_answered():
    assert escalation.below_threshold(answer(6))
    assert not escalation.below_threshold(answer(7))
    assert escalation.below_threshold(answer(7, threshold=7))           # per-procedure threshold


def test_masking_keeps_the_country_and_the_last_four_digits():
    assert mask("+15550100123") == "+1******0123"
    assert mask("+819012345678") == "+81******5678"
    assert mask(None) is None


