"""One headline per scope: the total of a scope and period is the same figure whatever the breakdown.
Answers that lack the breakdown's dimension (no agent, no branch) are a group of their own, shown and
counted, never dropped."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from chalicelib.domain.model import Answer, Survey, SurveyStatus
from chalicelib.domain.principal import Principal, Role
from chalicelib.domain.scoring import contributions
from chalicelib.services.scores import parse_query, report, scoped
from tests.fakes.stores import FakeConversationStore, FakeScoreStore

AT = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)
ADMIN = Principal("cx-1", Role.CX_ADMIN)
MANAGER = Principal("mgr-tokyo", Role.BRANCH_MANAGER, branch="tokyo-chuo")


def answer(n: int, score: int, context: dict[str, str], procedure: str = "claim_payment") -> Answer:
    return Answer(f"s-{n}", "score", AT, procedure, f"C-{n}", "ja", context, score, None, 6, None)


@pytest.fixture
def store() -> FakeScoreStore:
    """Tokyo: 3 answers with an agent and 2 without (a web survey, a walk-in); one answer with no
    branch and no agent; Osaka: 1 answer with an agent."""
    tokyo = [answer(1, 10, {"branch": "tokyo-chuo", "agent_id": "A-102"}),
             answer(2, 3, {"branch": "tokyo-chuo", "agent_id": "A-102"}),
             answer(3, 9, {"branch": "tokyo-chuo", "agent_id": "A-777"}),
             answer(4, 2, {"branch": "tokyo-chuo"}),
             answer(5, 1, {"branch": "tokyo-chuo"}, procedure="address_change")]
    elsewhere = [answer(6, 10, {}), answer(7, 8, {"branch": "osaka-kita", "agent_id": "A-300"})]
    scores = FakeScoreStore()
    scores.count(contributions(tokyo + elsewhere, UTC), 1, AT)
    return scores


def totals(principal: Principal, dimension: str, store: FakeScoreStore) -> tuple[int, float]:
    query = scoped(parse_query({"dimension": dimension, "from": "2026-11-01", "to": "2026-11-30"}, TODAY), principal)
    [nps] = report(query, store, None, min_n=1)["results"]
    return nps["total"]["n"], nps["total"]["score"]


def test_the_company_total_is_the_same_by_every_breakdown(store):
    by_dimension = {d: totals(ADMIN, d, store) for d in ("procedure", "branch", "agent", "channel", "locale")}
    assert set(by_dimension.values()) == {(7, 0.0)}, by_dimension     # 3 promoters, 3 detractors of 7


def test_a_branch_managers_default_view_by_agent_has_their_branchs_total(store):
    by_dimension = {d: totals(MANAGER, d, store) for d in ("agent", "procedure", "branch", "locale")}
    assert set(by_dimension.values()) == {(5, -20.0)}, by_dimension   # 2 promoters, 3 detractors of 5


def test_answers_without_the_dimension_are_a_group_of_their_own_listed_last(store):
    query = scoped(parse_query({"dimension": "agent", "from": "2026-11-01", "to": "2026-11-30"}, TODAY), MANAGER)
    [nps] = report(query, store, None, min_n=1)["results"]
    assert [(g["value"], g["n"]) for g in nps["groups"]] == [("A-102", 2), ("A-777", 1), (None, 2)]
    company = report(parse_query({"dimension": "branch", "from": "2026-11-01", "to": "2026-11-30"}, TODAY),
                     store, None, min_n=1)["results"][0]
    assert [(g["value"], g["n"]) for g in company["groups"]] == [("tokyo-chuo", 5), ("osaka-kita", 1), (None, 1)]


def test_the_trend_has_every_period_of_the_range_and_the_empty_ones_have_no_score(store):
    # 3 promoters, 3 detractors of 7: var = 6/7, margin = 196 * sqrt(6/7 / 7) = 68.6
    query = parse_query({"dimension": "branch", "from": "2026-11-19", "to": "2026-11-23", "period": "day"}, TODAY)
    [nps] = report(query, store, None, min_n=1)["results"]
    assert [(p["period"], p["n"], p["score"], p["margin"]) for p in nps["trend"]] == [
        ("2026-11-19", 0, None, None), ("2026-11-20", 0, None, None), ("2026-11-21", 7, 0.0, 68.6),
        ("2026-11-22", 0, None, None), ("2026-11-23", 0, None, None)]


def test_the_funnel_tells_deferrals_over_the_period_from_the_surveys_waiting_now():
    outcomes = FakeConversationStore()
    outcomes.outcomes = {("claim_payment", "2026-11-19#scheduled"): 120, ("claim_payment", "2026-11-20#scheduled"): 89,
                         ("claim_payment", "2026-11-20#sent"): 300}
    for n in range(12):                               # tonight's: waiting for the morning's window
        outcomes.surveys[f"s-{n}"] = Survey(f"s-{n}", "claim_payment", "C-1", f"ck-{n}", "ja", "sms_link", "default",
                                            SurveyStatus.SCHEDULED, AT, AT, send_at=AT + timedelta(hours=6))
    outcomes.surveys["sent"] = replace(outcomes.surveys["s-0"], survey_id="sent", status=SurveyStatus.SENT,
                                       send_at=None)
    body = report(parse_query({"from": "2026-11-01", "to": "2026-11-30"}, TODAY), FakeScoreStore(), outcomes, 30)
    assert (body["funnel"]["deferred"], body["funnel"]["waiting_now"]) == (209, 12)
