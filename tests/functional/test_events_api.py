"""POST /v1/events: intake over HTTP, through authentication, Chalice's parsing and the error table."""

import pytest

from tests.functional.conftest import event

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


def test_given_unparseable_json_then_400_bad_request(koe):
    response = koe.post_json("/v1/events", b'{"event_id": ')
    assert response.status_code == 400
    assert response.json_body["code"] == "bad_request" and set(response.json_body) == ONE_ERROR_SHAPE


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
