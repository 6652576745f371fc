"""`DynamoEventLedger`: the first payload seen for each event_id, kept as a fingerprint.

One TransactWriteItems per 100 events records every new id and checks every known one in the same
request (condition: the id is new, or it carries the same fingerprint). A refused item is a
conflict; the transaction is then sent again without the refused ones, so a request with k
conflicting ids costs 1 + (1 if k else 0) requests, never one per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from chalicelib.adapters.dynamo.binding import MAX_TRANSACTION_ITEMS, require_bound, shared_connection
from chalicelib.adapters.dynamo.errors import (
    CONDITION_FAILED,
    cancel_codes,
    raise_if_retryable,
    throttling_as_retryable,
)
from chalicelib.adapters.dynamo.models import EventItem
from chalicelib.settings import Settings


class DynamoEventLedger:
    """Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)
        self._retention = timedelta(days=settings.retention_days)

    def record_first(self, events: Sequence[tuple[str, str]], now: datetime) -> set[str]:
        unique = list(dict(events).items())       # one transaction item per id
        conflicts: set[str] = set()
        for start in range(0, len(unique), MAX_TRANSACTION_ITEMS):
            conflicts |= self._record(unique[start:start + MAX_TRANSACTION_ITEMS], now)
        return conflicts

    def _record(self, chunk: list[tuple[str, str]], now: datetime) -> set[str]:
        refused: set[str] = set()
        remaining = chunk
        while remaining:
            try:
                with throttling_as_retryable(), TransactWrite(connection=shared_connection()) as tx:
                    for event_id, fingerprint in remaining:
                        first_or_same: Condition = EventItem.event_id.does_not_exist() | (
                            EventItem.fingerprint == fingerprint)
                        tx.update(EventItem(event_id), condition=first_or_same, actions=[
                            EventItem.fingerprint.set(EventItem.fingerprint | fingerprint),
                            EventItem.first_seen.set(EventItem.first_seen | now),
                            EventItem.expires_at.set(EventItem.expires_at | (now + self._retention)),
                        ])
                return refused
            except TransactWriteError as exc:
                codes = cancel_codes(exc)
                raise_if_retryable(exc, codes)
                now_refused = {event_id for (event_id, _), code in zip(remaining, codes, strict=False)
                               if code == CONDITION_FAILED}
                if not now_refused:
                    raise
                refused |= now_refused
                remaining = [e for e in remaining if e[0] not in now_refused]
        return refused
