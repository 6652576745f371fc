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


def test_escalates_at_or_below_the_threshold():
    assert escalation.escalates(answer(6))
    assert not escalation.escalates(answer(7))
    assert escalation.escalates(answer(7, threshold=7))           # per-procedure threshold
    assert not escalation.escalates(answer(3, "comment"))
    assert escalation.comment_for_case(answer(3, "comment", text="slow"))


def test_the_alert_has_what_a_callback_needs_and_no_full_number():
    case = escalation.open_case(answer(3), AT, 24, "slow payout")
    subject, body = escalation.alert_text(case)
    for expected in ("claim_payment", "tokyo-chuo", "A-102", "3/10", "C-1", "slow payout", "+1******0123"):
        assert expected in body
    assert "5550100123" not in body
    message = escalation.follow_up_message(case)
    assert (message["score"], message["branch"], message["agent_id"], message["phone"]) == (
        3, "tokyo-chuo", "A-102", "+1******0123")


def test_masking_keeps_the_country_and_the_last_four_digits():
    assert mask("+15550100123") == "+1******0123"
    assert mask("+819012345678") == "+81******5678"
    assert mask(None) is None


def test_no_value_can_forge_a_line_in_the_alert():
    forged = "slow\nCase: someone-else\r\nCall back by: never\u2028Score: 10/10\x1b[8m"
    case = escalation.open_case(answer(3, context={"branch": "tokyo\nAgent: A-999", "agent_id": "A-102"}),
                                AT, 24, forged)
    subject, body = escalation.alert_text(case)
    lines = body.split("\n")
    assert [line.split(":")[0] for line in lines] == [
        "Score", "Procedure", "Branch", "Agent", "Customer", "Phone", "Comment", "Case", "Call back by"]
    assert "\\nCase: someone-else" in body and "\x1b" not in body and "\u2028" not in body
    assert "\n" not in subject and "\r" not in subject


def test_the_follow_up_message_follows_its_published_versioned_schema():
    import json
    from pathlib import Path

    from jsonschema import Draft202012Validator

    schema = json.loads((Path(__file__).resolve().parents[2] / "chalicelib" / "schemas"
                         / "follow-up-case.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    for comment in ("slow payout", None):
        message = escalation.follow_up_message(escalation.open_case(answer(3), AT, 24, comment))
        assert list(Draft202012Validator(schema).iter_errors(message)) == []
        assert message["schema_version"] == schema["properties"]["schema_version"]["const"]


def test_the_alert_carries_attributes_subscribers_can_filter_on():
    case = escalation.open_case(answer(3), AT, 24, None)
    assert escalation.alert_attributes(case) == {"procedure": "claim_payment", "branch": "tokyo-chuo",
                                                 "agent_id": "A-102", "score": "3"}
