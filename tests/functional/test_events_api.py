"""POST /v1/events: intake over HTTP, through authentication, Chalice's parsing and the error table."""

import json
from datetime import timedelta

import pytest

from tests.functional.conftest import API_KEY, event

ONE_ERROR_SHAPE = {"error", "code"}


def test_given_a_valid_key_when_an_event_is_posted_then_it_is_accepted_and_queued(koe):
    response = koe.post_json("/v1/events", event())
    assert response.status_code == 202
    assert response.json_body["status"] == "accepted" and response.json_body["accepted"] == 1
    assert koe.intake.events == [event()]


@pytest.mark.parametrize("key", [None, "ops-key-3", ""], ids=["no key", "wrong key", "empty key"])
def test_given_no_valid_key_when_an_event_is_posted_then_401_in_the_one_error_shape(koe, key):
    response = koe.post_json("/v1/events", event(), key=key)
    assert response.status_code == 401
    assert set(response.json_body) == ONE_ERROR_SHAPE and response.json_body["code"] == "unauthenticated"
    assert koe.intake.events == []


def test_given_an_invalid_event_when_posted_then_400_names_every_bad_field(koe):
    bad = event(procedure="Claim Payment!", customer={"phone": "555-0100"})
    response = koe.post_json("/v1/events", bad)
    assert response.status_code == 400
    assert response.json_body["status"] == "rejected"
    assert {e["field"] for e in response.json_body["errors"]} >= {"procedure", "customer.phone"}
    assert koe.intake.events == []


@pytest.mark.parametrize("body", [[event()], "an event", {"events": [event()] * 101}],
                         ids=["a list", "a string", "101 events"])
def test_given_a_body_that_is_not_one_event_or_a_batch_then_400_invalid_request(koe, body):
    response = koe.post_json("/v1/events", body)
    assert response.status_code == 400
    assert set(response.json_body) == ONE_ERROR_SHAPE and response.json_body["code"] == "invalid_request"
    assert koe.intake.events == []


def test_given_unparseable_json_then_400_saying_it_is_not_json(koe):
    response = koe.post_json("/v1/events", b'{"event_id": ')
    assert response.status_code == 400
    assert response.json_body["code"] == "invalid_request" and set(response.json_body) == ONE_ERROR_SHAPE
    assert response.json_body["error"].startswith("the body is not JSON")


# --- what a hostile or careless client sends: a 4xx in the one shape, never a 500 ----------------

def test_given_json_nested_100000_deep_then_400_not_500(koe):
    response = koe.post_json("/v1/events", b"[" * 100_000 + b"]" * 100_000)
    assert response.status_code == 400
    assert response.json_body == {"error": "the JSON is nested deeper than 32 levels", "code": "invalid_request"}


def test_given_json_nested_40_deep_within_python_limits_then_400_too(koe):
    deep: object = "x"
    for _ in range(40):
        deep = {"a": deep}
    response = koe.post_json("/v1/events", {"events": [deep]})
    assert response.status_code == 400 and "nested deeper" in response.json_body["error"]


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
def test_given_nan_in_a_field_then_400_in_valid_json(koe, constant):
    response = koe.post_json("/v1/events", b'{"event_id": "e-1", "procedure": ' + constant + b"}")
    assert response.status_code == 400
    assert json.loads(response.body)["code"] == "invalid_request"        # strict JSON: no NaN echoed
    assert constant.decode().lstrip("-") in response.json_body["error"]


def test_given_no_content_type_then_415_saying_so(koe):
    response = koe.client.http.post("/v1/events", headers={"x-api-key": API_KEY}, body=json.dumps(event()).encode())
    assert response.status_code == 415
    assert response.json_body == {"error": "the request has no Content-Type: send Content-Type: application/json",
                                  "code": "unsupported_media_type"}


def test_given_a_body_over_the_limit_then_413_before_anything_reads_it(koe):
    response = koe.post_json("/v1/events", b'{"x": "' + b"a" * (1024 * 1024) + b'"}', key=None)
    assert response.status_code == 413 and response.json_body["code"] == "payload_too_large"
    assert koe.intake.events == []


def test_given_a_non_utf8_body_then_400(koe):
    response = koe.post_json("/v1/events", b'{"event_id": "' + bytes([0xFF]) + b'"}')
    assert response.status_code == 400 and response.json_body["error"] == "the body is not UTF-8"


def test_given_a_valid_key_and_text_plain_then_415_unsupported_media_type(koe):
    response = koe.post_json("/v1/events", event(), content_type="text/plain")
    assert response.status_code == 415
    assert response.json_body == {"error": "Unsupported media type: text/plain", "code": "unsupported_media_type"}


def test_given_no_key_and_text_plain_then_401_comes_before_415(koe):
    response = koe.post_json("/v1/events", event(), key=None, content_type="text/plain")
    assert response.status_code == 401 and response.json_body["code"] == "unauthenticated"


def test_given_the_queue_refuses_when_an_event_is_posted_then_503_and_the_event_is_to_be_sent_again(koe):
    koe.intake.refuse = True
    response = koe.post_json("/v1/events", event())
    assert response.status_code == 503
    assert (response.json_body["status"], response.json_body["retry"]) == ("retry", 1)


def test_given_a_wrong_method_then_405_in_the_one_error_shape(koe):
    response = koe.get("/v1/events")
    assert response.status_code == 405
    assert response.json_body == {"error": "Unsupported method: GET", "code": "method_not_allowed"}


@pytest.mark.parametrize("ahead", [timedelta(days=2), timedelta(days=3650), timedelta(minutes=6)])
def test_given_a_completed_at_in_the_future_beyond_the_skew_then_rejected_naming_it(koe, ahead):
    completed = (koe.clock.now + ahead).isoformat()
    response = koe.post_json("/v1/events", event(completed_at=completed))
    assert response.status_code == 400
    assert response.json_body["errors"] == [{"field": "completed_at",
                                             "problem": "is in the future: more than 300 s ahead of koe's clock"}]
    assert koe.intake.events == []


def test_given_a_completed_at_within_the_clock_skew_then_accepted(koe):
    response = koe.post_json("/v1/events", event(completed_at=(koe.clock.now + timedelta(minutes=4)).isoformat()))
    assert response.status_code == 202


def test_given_an_event_id_sent_again_with_another_payload_then_409_conflict_and_the_first_is_kept(koe):
    assert koe.post_json("/v1/events", event()).status_code == 202
    response = koe.post_json("/v1/events", event(procedure="new_policy"))
    assert response.status_code == 409
    assert (response.json_body["status"], response.json_body["conflict"]) == ("conflict", 1)
    assert [e["procedure"] for e in koe.intake.events] == ["claim_payment"]
    assert koe.post_json("/v1/events", event()).status_code == 202        # the first, again: accepted


@pytest.mark.parametrize("sent", [{}, 42, ["e-1"], None], ids=["an object", "a number", "a list", "null"])
def test_given_an_event_id_that_is_not_a_string_then_the_answer_names_no_event_id(koe, sent):
    one = event(event_id=sent)
    single = koe.post_json("/v1/events", one)
    batch = koe.post_json("/v1/events", {"events": [one]})
    assert single.status_code == batch.status_code == 400
    assert single.json_body["event_id"] is None
    assert batch.json_body["results"][0]["event_id"] is None
    assert koe.intake.events == []
