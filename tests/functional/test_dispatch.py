"""dispatch: the intake queue's SQS batches; one bad record never fails its batch."""

import json
from datetime import timedelta

from chalicelib.errors import RetryableSendError
from tests.functional.conftest import EVENTS, PHONE, SURVEY, event


def test_given_a_valid_event_then_one_sms_is_sent_and_no_failure_is_reported(koe):
    assert koe.dispatch(event()) == {"batchItemFailures": []}
    [message] = koe.sms.sent
    assert message["to"] == PHONE and "Reply 0-10" in message["body"]
    assert koe.store.get_survey(SURVEY).status == "sent"


def test_given_an_eventbridge_envelope_then_the_event_inside_is_surveyed(koe):
    envelope = json.loads((EVENTS / "eventbridge-to-sqs.json").read_text())
    koe.clock.now = koe.clock.now.replace(hour=15)        # 10:00 in New York: the customer's send window
    assert koe.dispatch(envelope) == {"batchItemFailures": []}
    assert len(koe.sms.sent) == 1


def test_given_a_malformed_body_then_it_is_dead_lettered_with_a_reason_and_not_retried(koe):
    assert koe.dispatch("{not json", event()) == {"batchItemFailures": []}
    [letter] = koe.dead_letters.letters
    assert (letter["body"], letter["source_id"]) == ("{not json", "msg-0")
    assert letter["reason"].startswith("InvalidEvent: (message)")
    assert len(koe.sms.sent) == 1                 # the good record beside it was still sent


def test_given_a_send_that_fails_for_now_then_only_that_record_is_reported_for_retry(koe):
    koe.sms.fail_with = RetryableSendError("twilio 20429 too many requests")
    second = event(event_id="claims-2026-000124-paid", customer={"phone": "+15550100124"})
    payload = koe.dispatch(event(), second)
    assert payload == {"batchItemFailures": [{"itemIdentifier": "msg-0"}]}
    assert [m["to"] for m in koe.sms.sent] == ["+15550100124"] and koe.dead_letters.letters == []


def test_given_the_last_receive_meets_a_throttle_then_the_schedule_owns_the_send_and_nothing_is_dead_lettered(koe):
    # A refusal the carrier is sure of (nothing went out) ends the send lease: the survey stays on the
    # schedule's send index, which sends it at its next tick. A dead letter would end the event twice.
    koe.sms.fail_with = RetryableSendError("twilio 20429 too many requests")
    assert koe.dispatch(event(), receive_count=4) == {"batchItemFailures": []}
    assert koe.dead_letters.letters == []
    survey = koe.store.get_survey(SURVEY)
    assert survey.status == "sending" and survey.send_at is not None and survey.send_at <= koe.clock.now


def test_the_lambda_context_reaches_idempotency(koe):
    koe.dispatch(event())
    [context] = koe.components.idempotency.contexts
    assert context.function_name == "dispatch"


def test_given_the_last_receive_meets_a_throttle_then_the_next_tick_sends_the_survey(koe):
    koe.sms.fail_with = RetryableSendError("twilio 20429 too many requests")
    koe.dispatch(event(), receive_count=4)
    koe.tick()
    survey = koe.store.get_survey(SURVEY)
    assert survey.status == "sent" and [m["to"] for m in koe.sms.sent] == [survey.phone]
    assert koe.dead_letters.letters == []


def test_given_an_eventbridge_event_from_the_future_then_it_is_dead_lettered_naming_completed_at(koe):
    future = event(completed_at=(koe.clock.now + timedelta(days=2)).isoformat())
    assert koe.dispatch(future) == {"batchItemFailures": []}
    assert "completed_at: is in the future" in koe.dead_letters.letters[0]["reason"]
    assert koe.sms.sent == []
