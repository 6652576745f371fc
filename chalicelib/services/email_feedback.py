"""SES reports what became of an email (the `ses-events` topic -> `on_ses_event`): a hard bounce or a
complaint opts the address's contact out of email; soft bounces and deliveries are counted. A Send or
a Delivery of a survey's invitation (named by its message tag) records the send when its sender could
not (killed right after SES took it, or its record failing): the survey is `sent` with SES's message
id, and neither a replay of the event nor the schedule sends it again.

The contact is the address's own (keyed by the address's hash, as dispatch reads it): a customer
with a phone is then surveyed on the next channel of their country, an email-only customer is not
surveyed again. Addresses are hashed, never logged. SNS may deliver a message twice: an address
already opted out is left as it is (one audit entry).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.domain import channel_policy, email_feedback
from chalicelib.domain.email_feedback import UnreadableFeedback
from chalicelib.observability import count, logger
from chalicelib.services import survey_moves
from chalicelib.services.ports import ConversationStore


@dataclass(frozen=True)
class FeedbackDeps:
    store: ConversationStore
    contact_key: Callable[[str], str]     # keyed hash of an email address
    clock: Callable[[], datetime]


def record_feedback(message: str, deps: FeedbackDeps) -> dict[str, Any]:
    """Act on one SES notification (the SNS message text). Returns the outcome (no personal data).
    An unreadable message is counted and dropped (retrying cannot make it readable); a store
    error goes up, so the invocation is retried."""
    try:
        feedback = email_feedback.read(message)
    except UnreadableFeedback as exc:
        count("EmailFeedbackUnreadable")
        logger.warning("not an SES notification; dropped", extra={"problem": str(exc)})
        return {"kind": "unreadable", "recipients": 0, "opted_out": 0}
    count("EmailFeedback", kind=feedback.kind.value)
    recorded = feedback.records_a_send and _record_send(feedback, deps)
    opted_out = 0
    if feedback.opts_out:
        now = deps.clock()
        for address in feedback.recipients:
            key = deps.contact_key(address)
            contact = deps.store.get_contact(key)
            if contact is not None and contact.opted_out:
                continue
            deps.store.set_opt_out(key, True, feedback.audit, now)
            opted_out += 1
        if opted_out:
            count("EmailOptedOut", value=opted_out, reason=feedback.audit)
    logger.info("SES feedback recorded", extra={
        "kind": feedback.kind.value, "detail": feedback.detail, "ses_message_id": feedback.message_id,
        "recipients": len(feedback.recipients), "opted_out": opted_out, "send_recorded": recorded})
    return {"kind": feedback.kind.value, "recipients": len(feedback.recipients), "opted_out": opted_out,
            "send_recorded": recorded}


def _record_send(feedback: email_feedback.Feedback, deps: FeedbackDeps) -> bool:
    """The invitation SES took: its survey recorded `sent` if its sender has not (a store error goes
    up: SNS invokes the function again)."""
    assert feedback.survey_id is not None
    survey = deps.store.get_survey(feedback.survey_id)
    if survey is None or survey.channel != channel_policy.EMAIL:
        return False
    return survey_moves.record_reported_send(deps.store, survey, feedback.message_id, deps.clock(), "ses")
