"""`DynamoAlertLedger`: which destinations of which CX alert were delivered (or given up), so a
replayed alert reaches each destination once.

One item per `<alert_id>#<destination key>` (the key is a hash of the address), kept 30 days (TTL):
longer than the alert queue keeps a message (4 days) and its dead-letter queue (14 days), so a
redriven alert still finds what it already delivered.

- `delivered(ids)`: one BatchGetItem per 100 ids (consistent reads).
- `begin(id, now, lease)`: a conditional write that claims the destination for one invocation while
  it sends: refused while another holds an unexpired claim, or once the destination is finished.
  Two copies of one alert delivered in parallel (SNS delivers at least once; two overlapping ticks
  publish the same alert) therefore cannot both send.
- `record(id, outcome, now)`: delivered / given_up (finished), or failed (claimable again at once).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from chalicelib.adapters.dynamo.binding import require_bound
from chalicelib.adapters.dynamo.errors import conditional, throttling_as_retryable
from chalicelib.adapters.dynamo.models import AlertDeliveryItem
from chalicelib.domain.alert_delivery import FAILED, FINISHED
from chalicelib.settings import Settings

RETENTION = timedelta(days=30)
SENDING = "sending"
BATCH_GET_KEYS = 100            # DynamoDB takes at most 100 keys in one BatchGetItem


class DynamoAlertLedger:
    """Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)

    def delivered(self, delivery_ids: Sequence[str]) -> set[str]:
        unique = list(dict.fromkeys(delivery_ids))
        finished: set[str] = set()
        for start in range(0, len(unique), BATCH_GET_KEYS):
            with throttling_as_retryable():
                items = AlertDeliveryItem.batch_get(unique[start:start + BATCH_GET_KEYS], consistent_read=True,
                                                    attributes_to_get=["delivery_id", "outcome"])
                finished |= {item.delivery_id for item in items if item.outcome in FINISHED}
        return finished

    def begin(self, delivery_id: str, now: datetime, lease: timedelta) -> bool:
        item = AlertDeliveryItem(delivery_id)
        claimable = (AlertDeliveryItem.delivery_id.does_not_exist()
                     | (AlertDeliveryItem.outcome == FAILED)
                     | ((AlertDeliveryItem.outcome == SENDING) & (AlertDeliveryItem.lease_until < now)))
        return conditional(lambda: item.update(condition=claimable, actions=[
            AlertDeliveryItem.outcome.set(SENDING),
            AlertDeliveryItem.lease_until.set(now + lease),
            AlertDeliveryItem.updated_at.set(now),
            AlertDeliveryItem.reason.remove(),
            AlertDeliveryItem.expires_at.set(now + RETENTION),
        ]))

    def record(self, delivery_id: str, outcome: str, now: datetime, reason: str | None = None) -> None:
        with throttling_as_retryable():
            AlertDeliveryItem(delivery_id, outcome=outcome, updated_at=now, reason=reason,
                              expires_at=now + RETENTION).save()
