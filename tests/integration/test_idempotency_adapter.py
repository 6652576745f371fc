"""Powertools idempotency on DynamoDB Local, as dispatch uses it: an event is handled once, and an
event another invocation holds is a named error (EventInProgress), not Powertools' own."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import resources
from chalicelib.adapters.idempotency import Idempotency
from chalicelib.errors import EventInProgress
from devstack.provision import client


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
