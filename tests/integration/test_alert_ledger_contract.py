"""One contract for the alert delivery ledger, run against the in-memory fake and DynamoDB (on
DynamoDB Local), so the fake the service tests rely on cannot drift from the real store.

Every test makes its own alert ids: the table is shared by the session.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from chalicelib.domain.alert_delivery import DELIVERED, FAILED, GIVEN_UP, delivery_id, destination_key
from chalicelib.services.ports import AlertLedger
from chalicelib.settings import Settings, from_env
from tests.fakes.alert_delivery import FakeAlertLedger

NOW = datetime(2026, 11, 21, 1, 20, tzinfo=UTC)
LEASE = timedelta(minutes=2)
REQUIRED = {"KOE_PUBLIC_BASE_URL": "https://koe.test"}


@pytest.fixture(scope="module")
def dynamo_settings(local_aws: dict[str, str]) -> Settings:
    """The models bound to this session's tables (binding is process-wide; module scope)."""
    from chalicelib.adapters import dynamo

    settings = from_env({**REQUIRED, **local_aws})
    dynamo.configure(settings)
    return settings


@pytest.fixture(params=["fake", "dynamo"])
def ledger(request: pytest.FixtureRequest) -> AlertLedger:
    if request.param == "fake":
        return FakeAlertLedger()
    from chalicelib.adapters.dynamo import DynamoAlertLedger, configure

    settings = request.getfixturevalue("dynamo_settings")
    configure(settings)             # another module may have bound the models to other tables since
    return DynamoAlertLedger(settings)


def an_id(n: int = 0) -> str:
    alert = f"case-{uuid.uuid4().hex[:12]}:opened"
    return delivery_id(alert, destination_key("email", f"person{n}@example.jp"))


def test_nothing_is_delivered_until_recorded(ledger: AlertLedger) -> None:
    first, second = an_id(1), an_id(2)
    assert ledger.delivered([first, second]) == set()
    assert ledger.begin(first, NOW, LEASE)
    assert ledger.delivered([first, second]) == set()        # claimed is not finished
    ledger.record(first, DELIVERED, NOW)
    assert ledger.delivered([first, second, first]) == {first}


def test_a_claim_is_exclusive_while_its_lease_runs(ledger: AlertLedger) -> None:
    one = an_id()
    assert ledger.begin(one, NOW, LEASE)
    assert not ledger.begin(one, NOW + timedelta(seconds=1), LEASE)
    assert not ledger.begin(one, NOW + LEASE - timedelta(seconds=1), LEASE)
    assert ledger.begin(one, NOW + LEASE + timedelta(seconds=1), LEASE)    # its sender crashed


def test_a_finished_destination_can_never_be_claimed_again(ledger: AlertLedger) -> None:
    delivered, given_up = an_id(1), an_id(2)
    for delivery, outcome in ((delivered, DELIVERED), (given_up, GIVEN_UP)):
        assert ledger.begin(delivery, NOW, LEASE)
        ledger.record(delivery, outcome, NOW, "chat_http_404" if outcome == GIVEN_UP else None)
        assert not ledger.begin(delivery, NOW + timedelta(days=1), LEASE)
    assert ledger.delivered([delivered, given_up]) == {delivered, given_up}


def test_a_failed_destination_is_claimable_again_at_once(ledger: AlertLedger) -> None:
    one = an_id()
    assert ledger.begin(one, NOW, LEASE)
    ledger.record(one, FAILED, NOW, "RetryableSendError: chat webhook answered 503")
    assert ledger.delivered([one]) == set()
    assert ledger.begin(one, NOW, LEASE)


def test_an_outcome_can_be_recorded_without_a_claim(ledger: AlertLedger) -> None:
    unresolved = an_id().replace("#email:", "#unresolved:agent:")
    ledger.record(unresolved, GIVEN_UP, NOW, "unresolved")
    assert ledger.delivered([unresolved]) == {unresolved}


def test_more_ids_than_one_batch_read_takes(ledger: AlertLedger) -> None:
    ids = [an_id(n) for n in range(130)]
    for delivery in ids[::3]:
        ledger.record(delivery, DELIVERED, NOW)
    assert ledger.delivered(ids) == set(ids[::3])


def test_dynamo_keeps_the_outcome_for_thirty_days_and_no_address(dynamo_settings: Settings) -> None:
    from chalicelib.adapters.dynamo import AlertDeliveryItem, DynamoAlertLedger, configure

    configure(dynamo_settings)
    one = an_id()
    ledger = DynamoAlertLedger(dynamo_settings)
    assert ledger.begin(one, NOW, LEASE)
    ledger.record(one, GIVEN_UP, NOW, "ses_MessageRejected")
    item: Any = AlertDeliveryItem.get(one, consistent_read=True)
    assert (item.outcome, item.reason, item.lease_until) == (GIVEN_UP, "ses_MessageRejected", None)
    assert item.expires_at == NOW + timedelta(days=30)
    assert "example.jp" not in str(item.attribute_values)
