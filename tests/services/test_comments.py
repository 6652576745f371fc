"""The comments report (GET /v1/comments) on fakes: the newest comments with their sentiment and
phrases, and one dimension's groups; each role within its scope (a filter outside it answers
nothing); the groups read from per-day counters, never from the comments."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain.comment_insight import CommentInsight, Insight, InsightChange, Sentiment
from chalicelib.domain.model import Answer
from chalicelib.domain.principal import Principal, Role
from chalicelib.services.comments import CommentsDeps, InvalidCommentsQuery, parse_query, report
from tests.fakes.insights import FakeInsightStore

TOKYO = ZoneInfo("Asia/Tokyo")
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)
ADMIN = Principal("lead-1", Role.CX_ADMIN)
MANAGER = Principal("mgr-tokyo", Role.BRANCH_MANAGER, branch="tokyo-chuo")
AGENT = Principal("a102", Role.AGENT, branch="tokyo-chuo", agent_id="A-102")


def stored(n: int, sentiment: Sentiment, phrases: tuple[str, ...], *, branch: str = "tokyo-chuo",
           agent: str = "A-102", procedure: str = "claim_payment", hours_ago: int = 1) -> InsightChange:
    answer = Answer(survey_id=f"sv-{n}", question="comment", received_at=NOW - timedelta(hours=hours_ago),
                    procedure=procedure, customer_id=f"C-{n}", locale="ja",
                    context={"branch": branch, "agent_id": agent},
                    score=7, text=f"comment {n}", threshold=6, phone_masked="+81******0101", channel="sms_link")
    score = {"positive": 0.8, "neutral": 0.0, "negative": -0.8}[sentiment.value]
    return InsightChange(None, CommentInsight.of(answer, Insight(sentiment, score, phrases), "ja", TOKYO, NOW))


@pytest.fixture
def store() -> FakeInsightStore:
    found = FakeInsightStore()
    found.save([
        stored(1, Sentiment.NEGATIVE, ("支払い", "窓口"), hours_ago=3),
        stored(2, Sentiment.POSITIVE, ("窓口",), hours_ago=2),
        stored(3, Sentiment.NEGATIVE, ("支払い",), agent="A-777", hours_ago=1),
        stored(4, Sentiment.NEUTRAL, ("住所変更",), branch="osaka-kita", agent="A-301", procedure="address_change"),
        stored(5, Sentiment.NEGATIVE, ("アプリ",), hours_ago=24 * 40),                # outside the default period
    ])
    return found


def ask(principal: Principal, store: FakeInsightStore, **params: str) -> dict:
    deps = CommentsDeps(store=store, reporting_tz=TOKYO, clock=lambda: NOW)
    return report(principal, parse_query(params, TODAY), deps)


def test_the_newest_comments_with_their_sentiment_phrases_and_a_masked_phone(store: FakeInsightStore) -> None:
    answer = ask(ADMIN, store)
    assert [c["survey_id"] for c in answer["comments"]] == ["sv-3", "sv-4", "sv-2", "sv-1"]
    first = answer["comments"][0]
    assert (first["sentiment"], first["sentiment_score"], first["key_phrases"], first["phone"], first["comment"]) == (
        "negative", -0.8, ["支払い"], "+81******0101", "comment 3")
    assert (answer["from"], answer["to"], answer["timezone"]) == ("2026-10-23", "2026-11-21", "Asia/Tokyo")


def test_the_groups_count_sentiments_and_rank_phrases(store: FakeInsightStore) -> None:
    answer = ask(ADMIN, store)
    assert answer["groups"]["dimension"] == "procedure"
    claims, address = answer["groups"]["rows"]
    assert (claims["value"], claims["n"], claims["negative"], claims["positive"], claims["neutral"]) == (
        "claim_payment", 3, 2, 1, 0)
    assert claims["top_phrases"] == [{"phrase": "支払い", "count": 2}, {"phrase": "窓口", "count": 2}]
    assert (address["value"], address["n"]) == ("address_change", 1)
    assert answer["items_read"] == 4 + 2        # 4 comments + one counter per group and day


def test_filters_narrow_the_comments_and_the_groups_of_their_own_dimension(store: FakeInsightStore) -> None:
    answer = ask(ADMIN, store, sentiment="negative", procedure="claim_payment", limit="1")
    assert [c["survey_id"] for c in answer["comments"]] == ["sv-3"]
    assert [r["value"] for r in answer["groups"]["rows"]] == ["claim_payment"]
    by_agent = ask(ADMIN, store, group="agent", branch="tokyo-chuo")["groups"]
    assert by_agent["within_branch"] == "tokyo-chuo"
    assert [(r["value"], r["n"]) for r in by_agent["rows"]] == [("A-102", 2), ("A-777", 1)]


def test_a_branch_manager_reads_their_branch_and_nothing_of_another(store: FakeInsightStore) -> None:
    answer = ask(MANAGER, store)
    assert {c["branch"] for c in answer["comments"]} == {"tokyo-chuo"}
    assert answer["groups"]["within_branch"] == "tokyo-chuo"
    assert [(r["value"], r["n"]) for r in answer["groups"]["rows"]] == [("claim_payment", 3)]
    assert [r["value"] for r in ask(MANAGER, store, group="branch")["groups"]["rows"]] == ["tokyo-chuo"]
    elsewhere = ask(MANAGER, store, branch="osaka-kita")
    assert (elsewhere["comments"], elsewhere["groups"]["rows"], elsewhere["items_read"]) == ([], [], 0)


def test_an_agent_reads_the_comments_on_their_own_service_only(store: FakeInsightStore) -> None:
    answer = ask(AGENT, store)
    assert [c["survey_id"] for c in answer["comments"]] == ["sv-2", "sv-1"]
    assert answer["groups"]["dimension"] == "agent"
    assert [(r["value"], r["n"]) for r in answer["groups"]["rows"]] == [("A-102", 2)]
    assert ask(AGENT, store, group="procedure")["groups"]["rows"] == []       # no breakdown beyond their own
    assert ask(AGENT, store, agent="A-777")["comments"] == []


@pytest.mark.parametrize(("params", "problem"), [
    ({"sentiment": "angry"}, "sentiment"), ({"group": "customer"}, "group"), ({"limit": "0"}, "limit"),
    ({"limit": "many"}, "limit"), ({"from": "2026-11-30", "to": "2026-11-01"}, "from"), ({"agnet": "A-1"}, "agnet"),
])
def test_a_bad_parameter_is_named(params: dict[str, str], problem: str) -> None:
    with pytest.raises(InvalidCommentsQuery, match=problem):
        parse_query(params, TODAY)


def test_an_agents_groups_follow_the_branch_filter_as_their_comments_do(store: FakeInsightStore) -> None:
    store.save([stored(6, Sentiment.POSITIVE, ("説明",), branch="osaka-kita")])      # A-102 helping in Osaka
    everywhere, in_tokyo = ask(AGENT, store), ask(AGENT, store, branch="tokyo-chuo")
    assert [(r["value"], r["n"]) for r in everywhere["groups"]["rows"]] == [("A-102", 3)]
    assert [c["survey_id"] for c in in_tokyo["comments"]] == ["sv-2", "sv-1"]
    assert [(r["value"], r["n"]) for r in in_tokyo["groups"]["rows"]] == [("A-102", 2)]
    assert in_tokyo["groups"]["within_branch"] == "tokyo-chuo"
    assert ask(AGENT, store, branch="kobe")["groups"]["rows"] == []


def test_the_comments_without_an_agent_or_a_branch_are_a_group_of_their_own_so_every_breakdown_has_one_total(
        store: FakeInsightStore) -> None:
    store.save([stored(7, Sentiment.POSITIVE, ("ウェブ",), agent=""),                  # a web survey: no agent
                stored(8, Sentiment.NEGATIVE, ("アプリ",), agent="", branch="")])      # nor a branch
    totals = {}
    for group in ("procedure", "branch", "agent", "channel", "locale"):
        rows = ask(ADMIN, store, group=group)["groups"]["rows"]
        totals[group] = (sum(r["n"] for r in rows), sum(r["negative"] for r in rows))
    assert set(totals.values()) == {(6, 3)}
    by_agent = ask(ADMIN, store, group="agent")["groups"]["rows"]
    assert [(r["value"], r["n"], r["positive"], r["negative"]) for r in by_agent] == [
        ("A-102", 2, 1, 1), ("A-301", 1, 0, 0), ("A-777", 1, 0, 1), (None, 2, 1, 1)]      # null: no agent, last
    assert [(r["value"], r["n"]) for r in ask(ADMIN, store, group="branch")["groups"]["rows"]][-1] == (None, 1)
    mine = {group: sum(r["n"] for r in ask(MANAGER, store, group=group)["groups"]["rows"])
            for group in ("procedure", "agent", "channel", "locale")}
    assert mine == dict.fromkeys(mine, 4)                                              # tokyo-chuo's four
