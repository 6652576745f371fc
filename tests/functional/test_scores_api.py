"""GET /v1/scores: the scores report over HTTP."""

import pytest

from tests.fakes.stores import FakeScoreStore
from tests.functional.conftest import response_image


def test_given_counted_answers_when_scores_are_read_then_200_with_the_report(koe):
    koe.stream(response_image(score=10, survey_id="ev-1"), response_image(score=3, survey_id="ev-2"))
    response = koe.get("/v1/scores?dimension=branch&from=2026-11-01&to=2026-11-30")
    assert response.status_code == 200
    body = response.json_body
    assert (body["dimension"], body["from"], body["to"]) == ("branch", "2026-11-01", "2026-11-30")
    [group] = body["groups"]
    assert (group["value"], group["n"], group["promoters"], group["detractors"], group["nps"]) == \
        ("tokyo-chuo", 2, 1, 1, 0.0)


def test_given_no_parameters_then_the_last_30_days_by_procedure_to_today(koe):
    body = koe.get("/v1/scores").json_body
    assert (body["dimension"], body["from"], body["to"]) == ("procedure", "2026-10-23", "2026-11-21")
    assert body["total"]["n"] == 0 and body["total"]["nps"] is None


@pytest.mark.parametrize("query, problem", [
    ("dimension=planet", "dimension"),
    ("from=yesterday", "dates"),
    ("to=2026-13-01", "dates"),
    ("from=2026-11-22&to=2026-11-21", "after"),
    ("from=2024-01-01&to=2026-11-21", "days"),
], ids=["bad dimension", "bad from", "bad to", "from after to", "too many days"])
def test_given_a_bad_parameter_then_400_invalid_request_naming_it(koe, query, problem):
    response = koe.get(f"/v1/scores?{query}")
    assert response.status_code == 400
    assert response.json_body["code"] == "invalid_request" and problem in response.json_body["error"]


def test_given_no_key_then_401(koe):
    response = koe.get("/v1/scores", key=None)
    assert response.status_code == 401 and response.json_body["code"] == "unauthenticated"


class BrokenScores(FakeScoreStore):
    def read(self, dimension, from_day, to_day):
        raise RuntimeError("a bug, not a named error")


def test_given_an_unexpected_fault_then_500_in_the_one_error_shape(koe):
    koe.components.scores = BrokenScores()
    response = koe.get("/v1/scores")
    assert response.status_code == 500
    assert set(response.json_body) == {"error", "code"} and "Traceback" not in response.json_body["error"]
