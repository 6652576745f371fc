"""on_response: the responses table's DynamoDB stream; scores move, detractors escalate once; a
fault stops the batch at the first answer not done, reported as its record's sequence number."""

from tests.functional.conftest import SURVEY, response_image, stream_batch

DONE = {"batchItemFailures": []}


def test_given_a_detractor_score_then_one_case_one_follow_up_and_one_alert(koe):
    assert koe.stream(response_image(score=3)) == DONE
    case = koe.cases.get_case(SURVEY)
    assert (case.score, case.customer_id, case.phone_masked) == (3, "C-88123", "+1******0123")
    assert len(koe.follow_ups.messages) == 1 and len(koe.alerts.published) == 1
    assert len(koe.scores.buckets) == 9          # 5 dimensions + 4 within the branch


def test_given_the_same_stream_batch_again_then_no_second_alert_and_no_double_count(koe):
    koe.stream(response_image(score=3))
    assert koe.stream(response_image(score=3)) == DONE
    assert len(koe.follow_ups.messages) == 1 and len(koe.alerts.published) == 1
    [(_, counts)] = koe.scores.read("procedure", "2026-11-21", "2026-11-21")
    assert counts.n == 1


def test_given_a_promoter_then_scores_move_and_no_case_opens(koe):
    assert koe.stream(response_image(score=10)) == DONE
    assert koe.cases.cases == {} and koe.alerts.published == []
    assert koe.scores.read("branch", "2026-11-21", "2026-11-21")[0][1].promoters == 1


def test_given_a_modify_record_then_it_is_not_an_answer(koe):
    assert koe.stream(response_image(score=3), event_name="MODIFY") == DONE
    assert koe.cases.cases == {} and koe.scores.buckets == {}


def test_given_a_fault_at_an_answer_then_its_record_is_reported_and_the_stream_resumes_from_it(koe):
    # Given a batch whose first record is not an answer (a score item modified), then a promoter,
    # then a detractor whose alert the topic refuses once
    batch = stream_batch((response_image(score=3, survey_id="ev-0"), response_image(score=10, survey_id="ev-1"),
                          response_image(score=2, survey_id="ev-2")))
    batch["Records"][0]["eventName"] = "MODIFY"
    koe.alerts.fail_next = True
    # When the batch is delivered
    payload = koe.client.lambda_.invoke("on_response", batch).payload
    # Then the detractor's record is reported: the records before it are done
    assert payload == {"batchItemFailures": [{"itemIdentifier": batch["Records"][2]["dynamodb"]["SequenceNumber"]}]}
    assert koe.alerts.published == []
    # When Lambda resumes from that record
    assert koe.client.lambda_.invoke("on_response", {"Records": batch["Records"][2:]}).payload == DONE
    # Then the detractor's case is alerted once, and each answer counted once
    assert [m["case_id"] for m in koe.alerts.published] == ["ev-2"] and len(koe.follow_ups.messages) == 1
    shards = koe.components.settings.score_shards
    [(_, counts)] = koe.scores.read("procedure", "2026-11-21", "2026-11-21", shards=shards)
    assert (counts.n, counts.promoters, counts.detractors) == (2, 1, 1)
