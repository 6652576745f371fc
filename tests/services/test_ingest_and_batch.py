"""HTTP intake and queue batches on fakes: per-event answers; nothing dropped silently."""

import json

from chalicelib import http
from chalicelib.adapters.schema import event_errors
from chalicelib.errors import InvalidEvent, InvalidRequest
from chalicelib.services import ingest as intake
from chalicelib.services.batch import QueueRecord, process
from tests.fakes.messaging import FakeDeadLetters, FakeIntakeQueue
from tests.fakes.stores import FakeEventLedger
from tests.services.conftest import Clock, event


class Answer:
    """The intake's answer as the HTTP edge gives it: the service's outcome or named error, mapped
    through http.py's one table."""

    def __init__(self, body, queue, ledger=None):
        deps = intake.IngestDeps(queue=queue, check=event_errors, ledger=ledger or FakeEventLedger(),
                                 clock=Clock())
        try:
            answer = intake.ingest(body, deps)
        except InvalidRequest as exc:
            response = http.error_response(exc)
            self.status_code, self.body = response.status_code, response.body
            return
        self.status_code, self.body = http.INGEST_STATUS[answer.outcome], answer.body


def ingest(body, queue, ledger=None):
    return Answer(body, queue, ledger)


def test_one_valid_event_is_accepted_and_queued():
    queue = FakeIntakeQueue()
    answer = ingest(event(), queue)
    assert answer.status_code == 202
    assert (answer.body["status"], answer.body["event_id"]) == ("accepted", "claims-2026-000123-paid")
    assert queue.events == [event()]


def test_one_invalid_event_is_a_400_naming_each_field():
    answer = ingest({"event_id": "x", "customer": {"id": "C"}}, FakeIntakeQueue())
    assert answer.status_code == 400
    assert {e["field"] for e in answer.body["errors"]} == {"procedure", "completed_at", "customer"}


def test_a_batch_answers_per_event():
    bad = event(event_id="b")
    del bad["procedure"]
    queue = FakeIntakeQueue()
    answer = ingest({"events": [event(event_id="a"), bad, event(event_id="a")]}, queue)
    assert answer.status_code == 202
    assert [r["status"] for r in answer.body["results"]] == ["accepted", "rejected", "duplicate_in_request"]
    assert [e["event_id"] for e in queue.events] == ["a"]


def test_batch_limits():
    assert ingest({"events": [event()] * 101}, FakeIntakeQueue()).status_code == 400
    assert ingest({"events": []}, FakeIntakeQueue()).status_code == 400
    assert ingest([1, 2], FakeIntakeQueue()).status_code == 400


def test_a_queue_that_refuses_says_retry():
    answer = ingest(event(), FakeIntakeQueue(refuse=True))
    assert answer.status_code == 503 and answer.body["status"] == "retry"


def records(*bodies, receive_count=1):
    return [QueueRecord(f"m{i}", body, receive_count) for i, body in enumerate(bodies)]


def test_a_bad_record_goes_to_the_dead_letter_queue_with_its_reason_and_the_rest_succeed():
    handled, letters = [], FakeDeadLetters()

    def handle(body):
        if body == "bad":
            raise InvalidEvent([{"field": "procedure", "problem": "is required"}])
        handled.append(body)

    assert process(records("ok1", "bad", "ok2"), handle, letters, 4) == []
    assert handled == ["ok1", "ok2"]
    assert letters.letters == [{"body": "bad", "reason": "InvalidEvent: procedure: is required", "source_id": "m1"}]


def test_a_passing_fault_is_retried_then_dead_lettered_with_the_last_reason():
    letters = FakeDeadLetters()

    def handle(body):
        raise TimeoutError("twilio slow")

    assert process(records("x", receive_count=1), handle, letters, 4) == ["m0"]
    assert letters.letters == []
    assert process(records("x", receive_count=4), handle, letters, 4) == []
    assert "gave up after 4 attempts: TimeoutError: twilio slow" == letters.letters[0]["reason"]


def test_an_event_in_progress_elsewhere_comes_back_once_that_claim_can_have_expired():
    """Powertools' in-progress record outlives a dead invocation until its timeout: retrying sooner
    only meets it again, and must not spend the record's deliveries until it is dead-lettered."""
    from chalicelib.errors import EventInProgress
    from tests.fakes.alert_delivery import FakeVisibility

    letters, later = FakeDeadLetters(), FakeVisibility()

    def handle(body):
        raise EventInProgress("Execution already in progress")

    record = [QueueRecord("m0", "x", 2, receipt_handle="r0")]
    assert process(record, handle, letters, 4, in_progress=later, in_progress_s=31) == ["m0"]
    assert later.delays == [("r0", 31)] and letters.letters == []
    later.refuse = True                               # the queue's own visibility brings it back instead
    assert process(record, handle, letters, 4, in_progress=later, in_progress_s=31) == ["m0"]
    last = [QueueRecord("m0", "x", 4, receipt_handle="r0")]
    assert process(last, handle, letters, 4, in_progress=later, in_progress_s=31) == []
    assert letters.letters[0]["reason"].startswith("gave up after 4 attempts: EventInProgress")


def test_an_event_in_progress_elsewhere_waits_past_koes_give_up_until_the_queues_last_delivery():
    """The invocation holding the claim is alive and will finish the event: dead-lettering it under
    that invocation would end it twice (sent there, dead-lettered here). Only the queue's last
    delivery dead-letters it, with its reason, before SQS's redrive would move it without one."""
    from chalicelib.errors import EventInProgress
    from tests.fakes.alert_delivery import FakeVisibility

    letters, later = FakeDeadLetters(), FakeVisibility()

    def handle(body):
        raise EventInProgress("Execution already in progress")

    for receive in (4, 9):
        record = [QueueRecord("m0", "x", receive, receipt_handle="r0")]
        assert process(record, handle, letters, 4, in_progress=later, in_progress_s=31,
                       in_progress_receives=10) == ["m0"]
    assert later.delays == [("r0", 31), ("r0", 31)] and letters.letters == []
    last = [QueueRecord("m0", "x", 10, receipt_handle="r0")]
    assert process(last, handle, letters, 4, in_progress=later, in_progress_s=31, in_progress_receives=10) == []
    assert letters.letters[0]["reason"].startswith("gave up after 10 attempts: EventInProgress")


def test_other_errors_still_give_up_at_koes_own_count_when_the_queue_allows_more():
    def handle(body):
        raise TimeoutError("twilio slow")

    letters = FakeDeadLetters()
    assert process(records("x", receive_count=4), handle, letters, 4, in_progress_receives=10) == []
    assert letters.letters[0]["reason"] == "gave up after 4 attempts: TimeoutError: twilio slow"


def test_a_record_dead_lettered_leaves_its_queue_at_once_and_is_not_handled_if_its_batch_comes_back():
    """A crash later in the same invocation returns the whole batch, the record already
    dead-lettered included: handled again, it could succeed, its event ending both surveyed and
    dead-lettered. Marked before its letter, it is deleted from its queue at once, and a copy that
    comes back all the same (the invocation died before the delete) finishes its letter unhandled."""
    from tests.fakes.alert_delivery import FakeVisibility
    from tests.fakes.messaging import FakeDeadLetterMarks

    letters, queue, marks = FakeDeadLetters(), FakeVisibility(), FakeDeadLetterMarks()
    handled: list[str] = []
    given_up: list[str] = []

    def throttled(body):
        handled.append(body)
        raise TimeoutError("dynamodb throttled")

    first = [QueueRecord("m0", "ev-1", 4, receipt_handle="r0"), QueueRecord("m1", "ev-2", 1, receipt_handle="r1")]
    assert process(first, throttled, letters, 4, in_progress=queue, marks=marks,
                   on_dead_letter=lambda body, error: given_up.append(body)) == ["m1"]
    assert marks.marks == {"m0": "gave up after 4 attempts: TimeoutError: dynamodb throttled"}
    assert queue.removed == ["r0"] and [letter["source_id"] for letter in letters.letters] == ["m0"]
    assert marks.reads == 1                              # m0's 4th delivery read it; m1's first did not
    # When the batch comes back all the same, the store healthy now
    handled.clear()
    again = [QueueRecord("m0", "ev-1", 5, receipt_handle="r0b")]
    assert process(again, lambda body: handled.append(body), letters, 4, in_progress=queue, marks=marks,
                   on_dead_letter=lambda body, error: given_up.append(body)) == []
    # Then it is not handled: its letter is finished (a second copy, at worst) and it leaves the queue
    assert handled == [] and queue.removed == ["r0", "r0b"] and given_up == ["ev-1", "ev-1"]
    assert [letter["reason"] for letter in letters.letters] == [marks.marks["m0"]] * 2


def test_a_record_whose_settling_cannot_be_told_stays_on_its_queue_and_is_asked_again():
    """The store fails on the check too (the survey may be sent, its callback recording it): a letter
    now could end a surveyed event as a dead letter as well. It comes back; the next delivery asks."""
    from chalicelib.errors import StorageThrottled

    letters, asked = FakeDeadLetters(), []

    def throttled(body):
        raise StorageThrottled("dynamodb throttled")

    def unknown(body):
        asked.append(body)
        raise StorageThrottled("dynamodb throttled")

    assert process(records("ev-1", receive_count=4), throttled, letters, 4, settled=unknown) == ["m0"]
    assert letters.letters == [] and asked == ["ev-1"]
    assert process(records("ev-1", receive_count=5), throttled, letters, 4, settled=lambda body: True) == []
    assert letters.letters == []                        # settled: its survey is recorded
    assert process(records("ev-1", receive_count=6), throttled, letters, 4, settled=lambda body: False) == []
    assert [letter["reason"] for letter in letters.letters] == [
        "gave up after 6 attempts: StorageThrottled: dynamodb throttled"]


def test_a_record_that_cannot_be_marked_or_checked_stays_on_its_queue():
    from tests.fakes.alert_delivery import FakeVisibility
    from tests.fakes.messaging import FakeDeadLetterMarks

    letters, queue, marks = FakeDeadLetters(), FakeVisibility(), FakeDeadLetterMarks(refuse=True)
    handled: list[str] = []

    def throttled(body):
        handled.append(body)
        raise TimeoutError("dynamodb throttled")

    # Not marked: not dead-lettered either, it comes back
    assert process(records("x", receive_count=4), throttled, letters, 4, in_progress=queue, marks=marks) == ["m0"]
    assert letters.letters == [] and queue.removed == []
    # Delivered again while the marks cannot be read: not handled blind, it comes back later
    handled.clear()
    assert process(records("x", receive_count=2), throttled, letters, 4, in_progress=queue, marks=marks) == ["m0"]
    assert handled == []


def test_a_dead_letter_queue_that_refuses_keeps_the_record_on_its_queue():
    class Refusing(FakeDeadLetters):
        def put(self, body, reason, source_id):
            raise ConnectionError("sqs down")

    def handle(body):
        raise InvalidEvent([{"field": "x", "problem": "y"}])

    assert process(records(json.dumps({})), handle, Refusing(), 4) == ["m0"]


def test_an_unknown_field_beside_events_is_refused_naming_it():
    queue = FakeIntakeQueue()
    answer = ingest({"events": [event()], "evnets": []}, queue)
    assert answer.status_code == 400
    assert answer.body["fields"] == ["evnets"] and "evnets" in answer.body["error"]
    assert queue.events == []


def test_the_same_event_again_is_accepted_again_and_dispatch_surveys_it_once():
    queue, ledger = FakeIntakeQueue(), FakeEventLedger()
    assert ingest(event(), queue, ledger).status_code == 202
    reordered = dict(reversed(list(event().items())))          # same payload, other key order
    answer = ingest(reordered, queue, ledger)
    assert (answer.status_code, answer.body["status"]) == (202, "accepted")
    assert len(queue.events) == 2


def test_the_same_event_id_with_another_payload_is_a_conflict_and_the_first_is_kept():
    queue, ledger = FakeIntakeQueue(), FakeEventLedger()
    ingest(event(), queue, ledger)
    changed = event(procedure="new_policy")
    answer = ingest(changed, queue, ledger)
    assert (answer.status_code, answer.body["status"], answer.body["conflict"]) == (409, "conflict", 1)
    assert answer.body["errors"] == [{"field": "event_id",
                                      "problem": "was already sent with another payload; the first one is kept"}]
    assert queue.events == [event()]


def test_a_batch_answers_conflicts_per_event_and_queues_the_rest():
    queue, ledger = FakeIntakeQueue(), FakeEventLedger()
    ingest(event(event_id="a"), queue, ledger)
    answer = ingest({"events": [event(event_id="a", procedure="new_policy"), event(event_id="b"),
                                event(event_id="b", procedure="call_center")]}, queue, ledger)
    assert answer.status_code == 202
    assert [r["status"] for r in answer.body["results"]] == ["conflict", "accepted", "conflict"]
    assert (answer.body["accepted"], answer.body["conflict"]) == (1, 2)
    assert [e["event_id"] for e in queue.events] == ["a", "b"]


class Countdown:
    """An invocation's remaining time that drops by `step_ms` each time it is read."""

    def __init__(self, remaining_ms: int, step_ms: int) -> None:
        self.remaining_ms, self.step_ms = remaining_ms, step_ms

    def __call__(self) -> int:
        self.remaining_ms -= self.step_ms
        return self.remaining_ms


def test_a_record_the_invocation_has_no_time_left_for_is_not_started_and_goes_back_to_its_queue():
    from chalicelib.services.budget import Budget

    handled, letters = [], FakeDeadLetters()
    budget = Budget(Countdown(30_000, 8_000), reserve_ms=12_000)     # 22 s, 14 s, then 6 s: two fit
    failures = process(records("a", "b", "c", "d"), handled.append, letters, 4, budget=budget)
    assert handled == ["a", "b"]
    assert failures == ["m2", "m3"] and letters.letters == []


def test_a_lambda_context_gives_the_budget_and_without_one_it_is_unlimited():
    from chalicelib.services.budget import UNLIMITED, Budget

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 11_000

    assert Budget.of(Context()).exhausted()                  # under 12 s: a carrier call might not finish
    assert not Budget.of(Context(), reserve_ms=10_000).exhausted()
    assert Budget.of(object()) is UNLIMITED and not UNLIMITED.exhausted()
