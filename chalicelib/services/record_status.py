"""Carrier status callbacks: record delivery state monotonically, act on terminal errors.

Callbacks come late, twice or out of order: a status is stored only if it ranks above the stored
one (the ranks live in domain/survey_lifecycle.py). A delivery failure ends the survey as failed
and frees the contact's slot; the carrier's opt-out code opts the contact out everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import SurveyStatus
from chalicelib.errors import InvalidRequest
from chalicelib.observability import count, logger
from chalicelib.services import survey_moves
from chalicelib.services.ports import ConversationStore


@dataclass(frozen=True)
class StatusCallback:
    survey_id: str
    message_sid: str
    status: str
    error_code: str | None


class UnknownStatus(InvalidRequest):
    """The carrier sent a status koe does not know: answered 400 and logged, nothing stored."""

    def __init__(self, status: str):
        super().__init__(f"unknown MessageStatus {status!r}")


def record_status(callback: StatusCallback, store: ConversationStore, clock: Callable[[], datetime]) -> str:
    rank = lifecycle.DELIVERY_RANKS.get(callback.status)
    if rank is None:
        raise UnknownStatus(callback.status)
    if not store.record_delivery(callback.survey_id, callback.status, rank, callback.error_code,
                                 message_sid=callback.message_sid):
        count("StatusIgnored")
        return "ignored"
    count("DeliveryStatus", status=callback.status)
    logger.info("delivery status", extra={"survey_id": callback.survey_id, "status": callback.status,
                                          "error_code": callback.error_code})
    if callback.status in lifecycle.DELIVERY_FAILURES:
        _close_failed(callback, store, clock())
    return "recorded"


def _close_failed(callback: StatusCallback, store: ConversationStore, now: datetime) -> None:
    survey = store.get_survey(callback.survey_id)
    if (survey is None or survey.message_sid != callback.message_sid
            or not lifecycle.is_open(survey.status)):
        return
    reason = lifecycle.delivery_failure_reason(callback.status, callback.error_code)
    opted_out = callback.error_code == lifecycle.CARRIER_OPT_OUT
    survey_moves.close(store, survey, SurveyStatus.FAILED, reason, now,
                       opted_out=True if opted_out else None,
                       audit=f"carrier:{lifecycle.CARRIER_OPT_OUT}" if opted_out else None)
    count("SurveyFailed", reason=reason)
