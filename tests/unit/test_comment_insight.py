"""Comment insight, decided without I/O: the language a comment is read in, its version, its groups,
how storing a version (or replacing one) moves the counters, the bounded top phrases, the write
chunks; and the sentiment rule of the case rules."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.domain import case_rules
from chalicelib.domain.cases import Severity
from chalicelib.domain.comment_insight import (
    GROUPS,
    PHRASES_KEPT,
    CommentInsight,
    Delta,
    GroupKey,
    GroupTally,
    Insight,
    InsightChange,
    Sentiment,
    UnreadableRequest,
    apply,
    changes,
    chunks,
    groups_of,
    language_for,
    read_request,
    requests_for,
    summarise,
    top_phrases,
    version_of,
)
from chalicelib.domain.model import Answer
from chalicelib.domain.scoring import NO_VALUE, WITHIN_BRANCH

TOKYO = ZoneInfo("Asia/Tokyo")
AT = datetime(2026, 11, 21, 16, 30, tzinfo=UTC)          # 2026-11-22 01:30 in Tokyo


def comment(text: str = "The payout was late.", *, survey_id: str = "sv-1", at: datetime = AT, late: bool = False,
            **context: str) -> Answer:
    return Answer(survey_id=survey_id, question="comment", received_at=at, procedure="claim_payment",
                  customer_id="C-1", locale="en", context={"branch": "tokyo-chuo", "agent_id": "A-102", **context},
                  score=8, text=text, threshold=6, phone_masked="+1******0123", late=late, channel="sms_two_way")


def insight(sentiment: Sentiment = Sentiment.NEGATIVE, score: float = -0.7, phrases: tuple[str, ...] = ("payout",),
            **changes_: str) -> CommentInsight:
    return CommentInsight.of(comment(**changes_), Insight(sentiment, score, phrases), "en", TOKYO, AT)


# --- language, version, requests

@pytest.mark.parametrize(("text", "locale", "language"), [
    ("窓口の対応が遅い", "ja-JP", "ja"),
    ("対応最悪", "ja", "ja"),                       # kanji alone, a Japanese survey
    ("理赔太慢了", "zh-CN", "zh"),
    ("理賠太慢了", "zh-TW", "zh-TW"),
    ("理赔太慢了", "en-US", "zh"),                   # Han without kana, not a Japanese survey
    ("The agent was kind", "ja-JP", "en"),          # a Japanese customer writing in English
    ("ありがとう", "en", "ja"),
    ("10/10 👍", "zh-CN", "zh"),                    # nothing to read a script from: the survey's
    ("👍", "fr-FR", "en"),
])
def test_a_comment_is_read_in_the_language_its_script_says(text: str, locale: str, language: str) -> None:
    assert language_for(text, locale) == language


def test_a_version_is_when_the_comment_was_received_and_a_request_carries_no_text() -> None:
    first, later = comment(), comment(at=AT + timedelta(minutes=5))
    assert version_of(first) == "2026-11-21T16:30:00.000000+00:00" != version_of(later)
    assert version_of(replace(first, received_at=AT.astimezone(TOKYO))) == version_of(first)
    [request] = requests_for([first, later, replace(first, question="score", text="8"), comment("  ", survey_id="x")])
    assert (request.survey_id, request.version) == ("sv-1", version_of(later))     # the batch's latest
    assert "payout" not in request.to_body() and read_request(request.to_body()) == request


@pytest.mark.parametrize("body", ["not json", "[]", "{}", '{"survey_id": 5}', '{"survey_id": ""}'])
def test_an_unreadable_request_says_so(body: str) -> None:
    with pytest.raises(UnreadableRequest):
        read_request(body)


def test_an_insight_score_is_between_minus_one_and_one() -> None:
    with pytest.raises(ValueError, match="between -1 and 1"):
        Insight(Sentiment.NEGATIVE, -1.5)


def test_phrases_are_normalised_deduplicated_and_bounded() -> None:
    assert top_phrases(["Claim  Form", "claim form", "ＡＢＣ", " ", "x" * 80], limit=5) == (
        "claim form", "abc", "x" * 60)
    assert top_phrases([f"p{n}" for n in range(9)]) == ("p0", "p1", "p2", "p3", "p4")


# --- groups and counters

def test_a_comment_counts_per_group_and_within_its_branch_on_its_reporting_day() -> None:
    keys = groups_of(insight())
    assert {k.day for k in keys} == {"2026-11-22"}           # Tokyo's day, not UTC's
    assert {(k.dimension, k.value) for k in keys} == {
        ("procedure", "claim_payment"), ("branch", "tokyo-chuo"), ("agent", "A-102"), ("channel", "sms_two_way"),
        ("locale", "en"), ("procedure|branch=tokyo-chuo", "claim_payment"), ("agent|branch=tokyo-chuo", "A-102"),
        ("channel|branch=tokyo-chuo", "sms_two_way"), ("locale|branch=tokyo-chuo", "en")}
    assert len(groups_of(insight(agent_id="A-9"))) == 9


def test_a_comment_without_an_agent_or_a_branch_counts_in_those_dimensions_no_value_group() -> None:
    no_agent = groups_of(insight(agent_id=""))
    assert {(k.dimension, k.value) for k in no_agent if k.dimension.startswith("agent")} == {
        ("agent", NO_VALUE), ("agent|branch=tokyo-chuo", NO_VALUE)}
    assert len(no_agent) == 9                             # every dimension, as with an agent
    no_branch = CommentInsight.of(comment(branch="", agent_id=""), Insight(Sentiment.NEUTRAL, 0.0), "en", TOKYO, AT)
    assert {(k.dimension, k.value) for k in groups_of(no_branch)} == {
        ("procedure", "claim_payment"), ("branch", NO_VALUE), ("agent", NO_VALUE), ("channel", "sms_two_way"),
        ("locale", "en")}                                 # in no branch's scope


def test_every_breakdown_of_a_batch_has_the_same_sentiment_total() -> None:
    batch = [InsightChange(None, insight(survey_id="sv-1")),
             InsightChange(None, insight(Sentiment.POSITIVE, 0.8, survey_id="sv-2", agent_id="")),
             InsightChange(None, insight(Sentiment.NEUTRAL, 0.0, survey_id="sv-3", agent_id="", branch=""))]
    moved = changes(batch)
    totals = {dim: sum(sum(d.counts.values()) for k, d in moved.items() if k.dimension == dim) for dim in GROUPS}
    assert totals == dict.fromkeys(GROUPS, 3)
    within: dict[str, int] = {}
    for key, delta in moved.items():
        if "|branch=" in key.dimension:
            within[key.dimension] = within.get(key.dimension, 0) + sum(delta.counts.values())
    assert within == {f"{dim}|branch=tokyo-chuo": 2 for dim in WITHIN_BRANCH}    # tokyo-chuo's two, however split


def test_a_new_comment_adds_one_and_a_replaced_one_moves_its_count() -> None:
    first = insight()
    added = changes([InsightChange(None, first)])
    key = GroupKey("procedure", "2026-11-22", "claim_payment")
    assert added[key] == Delta({"negative": 1}, {"payout": 1})
    second = replace(first, sentiment=Sentiment.POSITIVE, key_phrases=("payout", "agent"), version="v2")
    moved = changes([InsightChange(first, second)])
    assert moved[key] == Delta({"negative": -1, "positive": 1}, {"agent": 1})     # payout: -1 + 1
    assert changes([InsightChange(first, replace(first, version="v2"))]) == {}    # same reading: nothing moves


def test_a_late_comment_is_kept_but_not_counted() -> None:
    late = CommentInsight.of(comment(late=True), Insight(Sentiment.NEGATIVE, -0.9), "en", TOKYO, AT)
    assert not late.counted and changes([InsightChange(None, late)]) == {}


def test_counts_never_go_below_zero_and_phrases_that_reach_zero_leave() -> None:
    key = GroupKey("procedure", "2026-11-22", "claim_payment")
    tally = apply(GroupTally(key), Delta({"negative": 1}, {"payout": 1, "agent": 1}))
    assert (tally.counts, tally.phrases, tally.version) == ({"negative": 1}, {"payout": 1, "agent": 1}, 1)
    after = apply(tally, Delta({"negative": -2}, {"payout": -1}))
    assert (after.counts, after.phrases, after.version, after.n) == ({}, {"agent": 1}, 2, 0)


def test_a_full_phrase_map_keeps_its_bound_and_the_newcomer_inherits_the_least_count() -> None:
    key = GroupKey("procedure", "2026-11-22", "claim_payment")
    full = GroupTally(key, {"negative": 30}, {f"p{n:02d}": 2 + n for n in range(PHRASES_KEPT)}, 7)
    after = apply(full, Delta({"negative": 1}, {"waiting time": 1}))
    assert len(after.phrases) == PHRASES_KEPT and "p00" not in after.phrases
    assert after.phrases["waiting time"] == 3          # p00's 2, plus its own 1: an upper bound


@given(st.lists(st.lists(st.sampled_from([f"w{n}" for n in range(40)]), max_size=5), max_size=60))
def test_the_phrase_map_never_grows_past_its_bound(batches: list[list[str]]) -> None:
    tally = GroupTally(GroupKey("procedure", "2026-11-22", "x"))
    for words in batches:
        tally = apply(tally, Delta({"neutral": 1}, dict.fromkeys(words, 1)))
        assert len(tally.phrases) <= PHRASES_KEPT and all(n > 0 for n in tally.phrases.values())
    assert tally.n == len(batches)


def test_a_batch_is_split_so_that_a_write_holds_at_most_the_items_allowed() -> None:
    batch = [InsightChange(None, insight(survey_id=f"sv-{n}", agent_id=f"A-{n}", branch=f"b-{n}")) for n in range(15)]
    parts = chunks(batch, 100)
    for part in parts:
        assert len(part) + len(changes(part)) <= 100
    assert [c for part in parts for c in part] == batch and len(parts) == 2


def test_groups_are_summed_over_days_with_their_top_phrases() -> None:
    def tally(day: str, value: str, counts: dict[str, int], phrases: dict[str, int]) -> GroupTally:
        return GroupTally(GroupKey("procedure", day, value), counts, phrases, 1)

    rows = summarise([tally("2026-11-21", "claim_payment", {"negative": 2}, {"payout": 2, "agent": 1}),
                      tally("2026-11-22", "claim_payment", {"positive": 1}, {"agent": 2}),
                      tally("2026-11-22", "address_change", {"neutral": 1}, {"website": 1})], top=1)
    assert [(r.value, r.n, r.counts["negative"], r.phrases) for r in rows] == [
        ("claim_payment", 3, 2, (("agent", 3),)), ("address_change", 1, 0, (("website", 1),))]


def test_the_group_without_a_value_is_summed_like_the_others_and_listed_last() -> None:
    rows = summarise([GroupTally(GroupKey("agent", "2026-11-21", NO_VALUE), {"negative": 5}, {"payout": 5}, 1),
                      GroupTally(GroupKey("agent", "2026-11-22", NO_VALUE), {"positive": 1}, {}, 1),
                      GroupTally(GroupKey("agent", "2026-11-22", "A-102"), {"neutral": 2}, {}, 1)])
    assert [(r.value, r.n) for r in rows] == [("A-102", 2), (NO_VALUE, 6)]


# --- the sentiment rule

def test_the_sentiment_rule_is_off_by_default_and_read_from_the_case_rules() -> None:
    assert case_rules.Rules().sentiment_below is None
    assert not case_rules.strongly_negative(-1.0, case_rules.Rules())
    parsed = case_rules.parse({"sentiment_below": -0.6, "sentiment_severity": "critical",
                               "by_procedure": {"address_change": {"sentiment_below": None}}})
    assert (parsed.default.sentiment_below, parsed.default.sentiment_severity) == (-0.6, Severity.CRITICAL)
    assert parsed.for_procedure("address_change").sentiment_below is None


@pytest.mark.parametrize("bad", [{"sentiment_below": -2}, {"sentiment_below": "low"}, {"sentiment_below": True},
                                 {"sentiment_severity": "urgent"}])
def test_a_wrong_sentiment_rule_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(case_rules.InvalidCaseRules, match="sentiment"):
        case_rules.parse(bad)


def test_a_strongly_negative_comment_opens_a_case_whatever_the_score() -> None:
    rules = case_rules.Rules(sentiment_below=-0.6)
    assess = case_rules.assess
    passive = assess(below_threshold=False, comment="slow", locale="en", repeat=False, rules=rules, sentiment=-0.8)
    assert passive == case_rules.Verdict(Severity.HIGH, ("sentiment",))
    assert assess(below_threshold=False, comment="slow", locale="en", repeat=False, rules=rules, sentiment=-0.5) is None
    both = assess(below_threshold=True, comment="I will file a complaint", locale="en", repeat=False, rules=rules,
                  sentiment=-0.6)
    assert both == case_rules.Verdict(Severity.HIGH, ("score", "keyword", "sentiment"))
    assert assess(below_threshold=False, comment="slow", locale="en", repeat=False, rules=case_rules.Rules(),
                  sentiment=-1.0) is None
