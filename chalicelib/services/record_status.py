"""Carrier status callbacks: record delivery state monotonically, act on terminal errors.

Callbacks come late, twice or out of order: a status is stored only if it ranks above the stored
one (the ranks live in domain/survey_lifecycle.py). A delivery failure leads where the lifecycle
says: the same message once more (Twilio 30003/30008, first time), the survey by email (an SMS the
carrier could not deliver, to a customer whose address has not opted out), or the end of the survey
as failed, freeing the contact's slot; the carrier's opt-out code opts the contact out everywhere.

A callback that finds its survey still `sending` with no message recorded (the sender's record
write failed, or has not happened yet) records the message: the callback names the survey and the
message, so the survey is `sent` and no replay or schedule sends it again.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from chalicelib.domain import survey_lifecycle as lifecycle
from chalicelib.domain.model import Survey, SurveyStatus
from chalicelib.errors import InvalidRequest
from chalicelib.observability import count, logger
from chalicelib.services import contacts, survey_moves
from chalicelib.services.contacts import ContactKeys
from chalicelib.services.ports import ConversationStore, SurveySender
from chalicelib.services.send_survey import send_survey


@dataclass(frozen=True)
class StatusDeps:
    store: ConversationStore
    senders: Mapping[str, SurveySender]
    contact_key: Callable[[str], str]
    clock: Callable[[], datetime]
    contact_keys: ContactKeys | None = None    # every listed key version (None: contact_key's only)
    send_lease: timedelta = lifecycle.SEND_LEASE   # KOE_SEND_LEASE_S: a resend's claim


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


def record_status(callback: StatusCallback, deps: StatusDeps) -> str:
    store = deps.store
    rank = lifecycle.DELIVERY_RANKS.get(callback.status)
    if rank is None:
        raise UnknownStatus(callback.status)
    stored = store.record_delivery(callback.survey_id, callback.status, rank, callback.error_code,
                                   message_sid=callback.message_sid, now=deps.clock())
    if stored is None:
        count("StatusIgnored")
        return "ignored"
    survey_moves.record_reported_send(store, stored, callback.message_sid, deps.clock(), "twilio")
    count("DeliveryStatus", status=callback.status)
    logger.info("delivery status", extra={"survey_id": callback.survey_id, "status": callback.status,
                                          "error_code": callback.error_code})
    if callback.status in lifecycle.DELIVERY_FAILURES:
        _after_failure(callback, deps, deps.clock())
    return "recorded"


def _after_failure(callback: StatusCallback, deps: StatusDeps, now: datetime) -> None:
    store = deps.store
    survey = store.get_survey(callback.survey_id)
    if (survey is None or survey.message_sid != callback.message_sid
            or not lifecycle.is_open(survey.status)):
        return
    reason = lifecycle.delivery_failure_reason(callback.status, callback.error_code)
    next_step = lifecycle.after_delivery_failure(survey, callback.error_code, _email_possible(survey, deps))
    if next_step != lifecycle.FAIL:
        channel = survey.channel if next_step == lifecycle.RETRY else "email"
        why = (survey.channel_reason if next_step == lifecycle.RETRY
               else f"{survey.channel_reason}; then email: {reason}")
        again = replace(lifecycle.leased(survey, now, deps.send_lease), resends=survey.resends + 1,
                        channel=channel, channel_reason=why)
        survey_moves.move(store, survey, again, now)
        count("SurveyResent", channel=channel)
        logger.info("survey sent again", extra={"survey_id": survey.survey_id, "channel": channel, "after": reason})
        send_survey(again, deps.senders, store, now)
        return
    opted_out = callback.error_code == lifecycle.CARRIER_OPT_OUT
    survey_moves.close(store, survey, SurveyStatus.FAILED, reason, now,
                       opted_out=True if opted_out else None,
                       audit=f"carrier:{lifecycle.CARRIER_OPT_OUT}" if opted_out else None)
    count("SurveyFailed", reason=reason)


def _email_possible(survey: Survey, deps: StatusDeps) -> bool:
    """An address, an email sender, and the address has not opted out (unsubscribed, bounced)."""
    if not survey.email or "email" not in deps.senders:
        return False
    contact = contacts.read(deps.store, survey.email, deps.contact_key, deps.contact_keys).contact
    return contact is None or not contact.opted_out
