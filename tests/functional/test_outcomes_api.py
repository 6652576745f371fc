"""GET /v1/outcomes: what became of the surveys, per procedure, from the counters written with each
status change."""

from tests.functional.conftest import event


def test_given_surveys_sent_suppressed_and_deferred_then_the_outcomes_are_counted_per_procedure(koe):
    koe.dispatch(event())                                                         # sent
    koe.dispatch(event(event_id="c-2", context={"claim_open": "true"}))           # suppressed: claim open
    koe.dispatch(event(event_id="n-3", procedure="new_policy",
                       customer={"phone": "+15550100125", "timezone": "America/New_York"}))   # 20:20: deferred
    response = koe.get("/v1/outcomes?from=2026-11-21&to=2026-11-21")
    assert response.status_code == 200
    body = response.json_body
    assert body["total"] == {"sent": 1, "deferred": 1, "suppressed": {"claim_open": 1}, "failed": {}}
    assert [p["procedure"] for p in body["procedures"]] == ["claim_payment", "new_policy"]
    assert koe.get("/v1/outcomes?from=2026-11-21&to=2026-11-21&procedure=new_policy").json_body["total"] == {
        "deferred": 1, "suppressed": {}, "failed": {}}


def test_given_a_bad_or_unknown_parameter_then_400_and_without_a_key_401(koe):
    assert koe.get("/v1/outcomes?form=2026-11-01").json_body["code"] == "invalid_request"
    assert koe.get("/v1/outcomes?from=2026-11-30&to=2026-11-01").status_code == 400
    assert koe.get("/v1/outcomes", key=None).status_code == 401
