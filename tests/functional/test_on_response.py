"""on_response: the responses table's DynamoDB stream; scores move, detractors escalate once."""

from tests.functional.conftest import SURVEY, response_image


def test_given_a_detractor_score_then_one_case_one_follow_up_and_one_alert(koe):
    payload = koe.stream(response_image(score=3))
    assert payload == {"answers": 1, "buckets": 9, "cases_opened": 1}     # 5 dimensions + 4 within the branch
    case = koe.cases.get_case(SURVEY)
    assert (case.score, case.customer_id, case.phone_masked) == (3, "C-88123", "+1******0123")
    assert len(koe.follow_ups.messages) == 1 and len(koe.alerts.published) == 1


def test_given_the_same_stream_batch_again_then_no_second_alert_and_no_double_count(koe):
    koe.stream(response_image(score=3))
    assert koe.stream(response_image(score=3))["cases_opened"] == 0
    assert len(koe.follow_ups.messages) == 1 and len(koe.alerts.published) == 1
    [(_, counts)] = koe.scores.read("procedure", "2026-11-21", "2026-11-21")
    assert counts.n == 1


def test_given_a_promoter_then_scores_move_and_no_case_opens(koe):
    assert koe.stream(response_image(score=10))["cases_opened"] == 0
    assert koe.cases.cases == {} and koe.alerts.published == []
    assert koe.scores.read("branch", "2026-11-21", "2026-11-21")[0][1].promoters == 1


def test_given_a_modify_record_then_it_is_not_an_answer(koe):
    assert koe.stream(response_image(score=3), event_name="MODIFY") == {"answers": 0, "buckets": 0,
                                                                        "cases_opened": 0}
    assert koe.cases.cases == {}
