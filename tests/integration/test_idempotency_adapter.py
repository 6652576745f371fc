"""Powertools idempotency on DynamoDB Local, as dispatch uses it: an event is handled once, and an
event another invocation holds is a named error (EventInProgress), not Powertools' own."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import resources
from chalicelib.adapters.idempotency import DeadLetterMarks, Idempotency
from chalicelib.errors import EventInProgress
from devstack.provision import client
from tests.fakes.messaging import FakeDeadLetterMarks


@pytest.fixture
def idempotency(fresh_aws: dict[str, str], dynamodb_local: Any) -> Idempotency:
    table = resources.physical(fresh_aws["KOE_RESOURCE_PREFIX"], "idempotency")
    return Idempotency(table, client("dynamodb", dynamodb_local.endpoint, fresh_aws["AWS_REGION"]))

def test_an_event_is_handled_once_and_one_held_elsewhere_is_in_progress(idempotency: Idempotency) -> None:
    calls: list[str] = []
    inner: list[BaseException] = []

    def dispatch(event: dict[str, Any]) -> dict[str, str]:
        calls.append(event["event_id"])
        try:            # the same event delivered to another invocation while this one holds it
            once(event)
        except EventInProgress as exc:
            inner.append(exc)
        return {"survey_id": event["event_id"], "status": "sent"}

    once = idempotency.wrap(dispatch)
    event = {"event_id": "claims-2026-000123-paid"}
    assert once(event) == {"survey_id": "claims-2026-000123-paid", "status": "sent"}
    assert len(inner) == 1 and "in progress" in str(inner[0]).lower()
    assert once(event)["status"] == "sent" and calls == ["claims-2026-000123-paid"]


CLOCK = datetime(2026, 11, 21, 1, 25, tzinfo=UTC)


@pytest.fixture(params=["fake", "dynamodb"])
def marks(request: pytest.FixtureRequest) -> Any:
    """The same contract for the fake the service tests use and for the table dispatch uses."""
    if request.param == "fake":
        return FakeDeadLetterMarks()
    aws, local = request.getfixturevalue("fresh_aws"), request.getfixturevalue("dynamodb_local")
    table = resources.physical(aws["KOE_RESOURCE_PREFIX"], "idempotency")
    return DeadLetterMarks(table, client("dynamodb", local.endpoint, aws["AWS_REGION"]), lambda: CLOCK)


def test_a_record_given_up_is_known_by_its_message_id(marks: Any) -> None:
    assert marks.reason_of("3f6c2a5e-0c1d-4b9e-9a57-5d1f2c7e8a90") is None
    marks.mark("3f6c2a5e-0c1d-4b9e-9a57-5d1f2c7e8a90", "gave up after 4 attempts: StorageThrottled: x")
    assert marks.reason_of("3f6c2a5e-0c1d-4b9e-9a57-5d1f2c7e8a90") == "gave up after 4 attempts: StorageThrottled: x"
    assert marks.reason_of("another-message") is None


def test_a_mark_beside_powertools_items_expires_with_the_queues_retention(
        fresh_aws: dict[str, str], dynamodb_local: Any) -> None:
    table = resources.physical(fresh_aws["KOE_RESOURCE_PREFIX"], "idempotency")
    dynamodb = client("dynamodb", dynamodb_local.endpoint, fresh_aws["AWS_REGION"])
    DeadLetterMarks(table, dynamodb, lambda: CLOCK).mark("m-1", "InvalidEvent: completed_at: is required")
    [item] = dynamodb.scan(TableName=table)["Items"]
    assert item["id"] == {"S": "dead-letter#m-1"}
    assert int(item["expiration"]["N"]) == int(CLOCK.timestamp()) + 14 * 24 * 3600
