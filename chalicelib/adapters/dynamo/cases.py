"""Follow-up cases, one per survey: `DynamoCaseStore` and the case <-> item conversions.

Every write is a single conditional item write: opening refuses a second case for the same id,
and later updates refuse to create a partial case that was never opened.
"""

from __future__ import annotations

from collections.abc import Sequence

from pynamodb.expressions.update import Action

from chalicelib.adapters.dynamo.binding import require_bound
from chalicelib.adapters.dynamo.convert import strings
from chalicelib.adapters.dynamo.errors import conditional, get_or_none
from chalicelib.adapters.dynamo.models import CaseItem, StatusChange
from chalicelib.domain.model import Case
from chalicelib.settings import Settings


class DynamoCaseStore:
    """Follow-up cases, one per survey. Built after configure(settings)."""

    def __init__(self, settings: Settings) -> None:
        require_bound(settings)

    def open_case(self, case: Case) -> bool:
        return conditional(lambda: _case_to_item(case).save(condition=CaseItem.case_id.does_not_exist()))

    def get_case(self, case_id: str) -> Case | None:
        item = get_or_none(CaseItem, case_id)
        return _case_from_item(item) if item else None

    def mark_notified(self, case_id: str, *, follow_up_queued: bool, alert_published: bool) -> None:
        """Sets only the flags that are True: a later retry that failed to publish must not
        clear an earlier success. Does nothing for an unknown case (never creates a partial one)."""
        actions = ([CaseItem.follow_up_queued.set(True)] if follow_up_queued else []) + (
            [CaseItem.alert_published.set(True)] if alert_published else [])
        if actions:
            self._update_existing(case_id, actions)

    def attach_comment(self, case_id: str, comment: str) -> bool:
        return self._update_existing(case_id, [CaseItem.comment.set(comment)])

    def _update_existing(self, case_id: str, actions: Sequence[Action]) -> bool:
        return conditional(lambda: CaseItem(case_id).update(actions=list(actions),
                                                            condition=CaseItem.case_id.exists()))


def _case_to_item(case: Case) -> CaseItem:
    return CaseItem(
        case.case_id, survey_id=case.survey_id, procedure=case.procedure,
        customer_id=case.customer_id, score=case.score, opened_at=case.opened_at,
        sla_due=case.sla_due, context=dict(case.context), phone_masked=case.phone_masked,
        comment=case.comment, status=case.status,
        status_history=[StatusChange(status=case.status, at=case.opened_at)],
        follow_up_queued=case.follow_up_queued, alert_published=case.alert_published)


def _case_from_item(item: CaseItem) -> Case:
    return Case(
        case_id=item.case_id, survey_id=item.survey_id, procedure=item.procedure,
        customer_id=item.customer_id, score=int(item.score), opened_at=item.opened_at,
        sla_due=item.sla_due, context=strings(item.context), phone_masked=item.phone_masked,
        comment=item.comment, status=item.status,
        follow_up_queued=bool(item.follow_up_queued), alert_published=bool(item.alert_published))
