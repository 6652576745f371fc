"""Twilio status callbacks: record delivery state monotonically, act on terminal errors.

Callbacks come late, twice or out of order: a status is stored only if it ranks above the stored
one. 21610 (opted out at the carrier) opts the contact out everywhere; any terminal failure closes
the conversation so the phone is free for a later survey.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.domain.model import OPEN_STATUSES, Step, SurveyStatus
from chalicelib.observability import count, logger
from chalicelib.services.ports import ContactChange, ConversationStore

RANKS = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
         "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5}
TERMINAL_FAILURES = frozenset({"undelivered", "failed", "canceled"})
OPTED_OUT = "21610"


@dataclass(frozen=True)
class StatusCallback:
    survey_id: str
    message_sid: str
    status: str
    error_code: str | None


class UnknownStatus(ValueError):
    """Twilio sent a status koe does not know: answered 400 and logged, nothing stored."""


def record_status(callback: StatusCallback, store: ConversationStore, clock: Callable[[], datetime]) -> str:
    if callback.status not in RANKS:
        raise UnknownStatus(callback.status)
    if not store.record_delivery(callback.survey_id, callback.status, RANKS[callback.status], callback.error_code):
        count("StatusIgnored")
        return "ignored"
    count("DeliveryStatus", status=callback.status)
    logger.info("delivery status", extra={"survey_id": callback.survey_id, "status": callback.status,
                                          "error_code": callback.error_code})
    if callback.status in TERMINAL_FAILURES:
        _close_failed(callback, store, clock())
    return "recorded"


def _close_failed(callback: StatusCallback, store: ConversationStore, now: datetime) -> None:
    survey = store.get_survey(callback.survey_id)
    if survey is None or survey.message_sid != callback.message_sid or survey.status not in OPEN_STATUSES:
        return
    reason = f"{callback.status}_{callback.error_code or 'unknown'}"
    change = (ContactChange(opted_out=True, audit=f"carrier:{OPTED_OUT}") if callback.error_code == OPTED_OUT
              else ContactChange())
    failed = replace(survey, status=SurveyStatus.FAILED, step=Step.DONE, reason=reason, open_until=None)
    store.update_survey(survey, failed, (), change, now)
    count("SurveyFailed", reason=reason)
