"""GET /v1/scores: NPS, CSAT and CES with margins per group and period, within the caller's scope."""

import json
from datetime import timedelta

import pytest

from chalicelib.domain.claims import id_token_claims
from chalicelib.domain.local_token import mint
from chalicelib.domain.principal import Role
from tests.fakes.stores import FakeScoreStore
from tests.functional.conftest import ENV, response_image

ADMIN = {"role": Role.CX_ADMIN}
MANAGER = {"role": Role.BRANCH_MANAGER, "branch": "tokyo-chuo"}
OTHER_MANAGER = {"role": Role.BRANCH_MANAGER, "branch": "osaka-kita"}
AGENT = {"role": Role.AGENT, "agent_id": "A-102", "branch": "tokyo-chuo"}


def get(koe, path, who=ADMIN):
    claims = id_token_claims("u-1", who["role"], branch=who.get("branch"), agent_id=who.get("agent_id"))
    token = mint(ENV["KOE_LOCAL_TOKEN_SECRET"], claims, koe.clock.now, timedelta(hours=1))
    response = koe.client.http.get(path, headers={"authorization": f"Bearer {token}"})
    return response.status_code, json.loads(response.body)


def test_given_counted_answers_when_scores_are_read_then_200_with_figures_and_margins(koe):
    koe.stream(response_image(score=10, survey_id="ev-1"), response_image(score=3, survey_id="ev-2"))
    status, body = get(koe, "/v1/scores?dimension=branch&from=2026-11-01&to=2026-11-30&period=week")
    assert status == 200
    assert (body["dimension"], body["from"], body["to"], body["period"]) == ("branch", "2026-11-01", "2026-11-30",
                                                                             "week")
    [nps] = body["results"]
    [group] = nps["groups"]
    # p = d = 0.5: NPS 0; var = 1 - 0 = 1; margin = 196 * sqrt(1 / 2) = 138.6
    assert (group["value"], group["n"], group["promoters"], group["detractors"], group["score"], group["margin"],
            group["too_few"]) == ("tokyo-chuo", 2, 1, 1, 0.0, 138.6, True)
    # every week of the period, those without answers too (n 0, no score)
    assert [(t["period"], t["n"]) for t in nps["trend"]] == [
        ("2026-W44", 0), ("2026-W45", 0), ("2026-W46", 0), ("2026-W47", 2), ("2026-W48", 0), ("2026-W49", 0)]


def test_given_no_parameters_then_the_last_30_days_by_procedure_to_today_with_the_funnel(koe):
    status, body = get(koe, "/v1/scores")
    assert (body["dimension"], body["from"], body["to"]) == ("procedure", "2026-10-23", "2026-11-21")
    assert body["results"] == [] and body["funnel"]["sent"] == 0 and body["funnel"]["response_rate"] is None


def test_each_role_reads_its_scope(koe):
    koe.stream(response_image(score=10, survey_id="ev-1"), response_image(score=3, survey_id="ev-2"))
    status, mine = get(koe, "/v1/scores?dimension=agent", MANAGER)
    assert status == 200 and mine["branch"] == "tokyo-chuo" and mine["results"][0]["groups"][0]["value"] == "A-102"
    assert get(koe, "/v1/scores?dimension=agent", OTHER_MANAGER)[1]["results"] == []
    assert get(koe, "/v1/scores?dimension=branch&value=tokyo-chuo", OTHER_MANAGER)[0] == 400
    status, own = get(koe, "/v1/scores?dimension=agent", AGENT)
    assert status == 200 and [g["value"] for g in own["results"][0]["groups"]] == ["A-102"]
    assert get(koe, "/v1/scores?dimension=branch", AGENT)[0] == 400


@pytest.mark.parametrize("query, problem", [
    ("dimension=planet", "dimension"),
    ("from=yesterday", "dates"),
    ("to=2026-13-01", "dates"),
    ("from=2026-11-22&to=2026-11-21", "after"),
    ("from=2024-01-01&to=2026-11-21", "days"),
    ("period=year", "period"),
], ids=["bad dimension", "bad from", "bad to", "from after to", "too many days", "bad period"])
def test_given_a_bad_parameter_then_400_invalid_request_naming_it(koe, query, problem):
    status, body = get(koe, f"/v1/scores?{query}")
    assert status == 400
    assert body["code"] == "invalid_request" and problem in body["error"]


def test_given_no_token_then_401_and_the_operations_key_403(koe):
    assert koe.get("/v1/scores", key=None).status_code == 401
    assert koe.get("/v1/scores").status_code == 403


class BrokenScores(FakeScoreStore):
    def read(self, dimension, from_day, to_day):
        raise RuntimeError("a bug, not a named error")


def test_given_an_unexpected_fault_then_500_in_the_one_error_shape(koe):
    koe.components.scores = BrokenScores()
    status, body = get(koe, "/v1/scores")
    assert status == 500
    assert set(body) == {"error", "code"} and "Traceback" not in body["error"]
