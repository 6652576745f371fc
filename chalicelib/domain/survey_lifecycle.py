"""The survey lifecycle: its statuses, the moves allowed between them, and what each move does to
the contact's conversation slot (one open conversation per phone or email at a time).

Pure tables and functions. Services never write `replace(survey, status=...)` by hand to close a
survey: they ask `close` for the closed survey and `slot_effect` for what the write must do to the
contact, so adding a status (`scheduled`, `reminded`, `late`) is a change to the tables below.

The carrier's delivery states live here too: they rank (a status callback never moves a message
backwards) and some of them end the survey.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from enum import StrEnum

from chalicelib.domain import channels
from chalicelib.domain.model import Step, Survey, SurveyStatus

S = SurveyStatus


class Slot(StrEnum):
    """What a status means for the contact's conversation slot."""

    HOLDS = "holds"    # the conversation is open: no second survey to this contact meanwhile
    FREE = "free"      # the survey is over (or never started): the slot belongs to nobody


SLOT: dict[SurveyStatus, Slot] = {
    S.SCHEDULED: Slot.HOLDS,      # one survey at a time: a deferred one counts
    S.SENDING: Slot.HOLDS, S.SENT: Slot.HOLDS, S.DELIVERED: Slot.HOLDS, S.REMINDED: Slot.HOLDS,
    S.ANSWERED: Slot.FREE, S.EXPIRED: Slot.FREE, S.FAILED: Slot.FREE, S.SUPPRESSED: Slot.FREE,
    S.OPTED_OUT: Slot.FREE, S.UNREADABLE: Slot.FREE, S.LATE: Slot.FREE,
}

OPEN_STATUSES = frozenset(status for status, slot in SLOT.items() if slot is Slot.HOLDS)
TERMINAL_STATUSES = frozenset(SLOT) - OPEN_STATUSES

# How a survey starts: opened now or scheduled for the send window (both claim the slot), or
# recorded as suppressed (never sent).
INITIAL_STATUSES = frozenset({S.SCHEDULED, S.SENDING, S.SUPPRESSED})

# Where each status may go next. An open status may stay itself (a turn of the conversation
# changes the step, not the status). A terminal status goes nowhere: a late callback or a
# replayed reply cannot reopen a closed survey.
_CLOSES_AN_OPEN_SURVEY = frozenset({S.ANSWERED, S.EXPIRED, S.FAILED, S.OPTED_OUT, S.UNREADABLE, S.LATE})
ALLOWED: dict[SurveyStatus, frozenset[SurveyStatus]] = {
    # Released by the schedule (sending), or ended before that (opted out meanwhile, never released).
    S.SCHEDULED: frozenset({S.SCHEDULED, S.SENDING, S.OPTED_OUT, S.FAILED, S.EXPIRED}),
    # A release the carrier throttled goes back to scheduled, for the next tick.
    S.SENDING: frozenset({S.SENDING, S.SCHEDULED, S.SENT, S.DELIVERED}) | _CLOSES_AN_OPEN_SURVEY,
    # Sent again after the carrier gave up (once more, or on another channel): back to sending.
    S.SENT: frozenset({S.SENT, S.DELIVERED, S.REMINDED, S.SENDING}) | _CLOSES_AN_OPEN_SURVEY,
    S.DELIVERED: frozenset({S.DELIVERED, S.REMINDED, S.SENDING}) | _CLOSES_AN_OPEN_SURVEY,
    S.REMINDED: frozenset({S.REMINDED}) | _CLOSES_AN_OPEN_SURVEY,
    **{status: frozenset() for status in TERMINAL_STATUSES},
    # The one move of a closed survey: an answer after the response window is kept, as late.
    S.EXPIRED: frozenset({S.LATE}),
}


class SlotEffect(StrEnum):
    """What a move does to the contact's slot, in the same write as the survey."""

    KEEP = "keep"          # nothing to change
    RELEASE = "release"    # free the slot, if (and only if) this survey still holds it


class IllegalTransition(ValueError):
    """A move the lifecycle does not allow, e.g. reopening an answered survey: a bug in the caller."""

    def __init__(self, old: SurveyStatus, new: SurveyStatus):
        super().__init__(f"a survey cannot go from {old.value} to {new.value}")
        self.old, self.new = old, new


def check(old: SurveyStatus, new: SurveyStatus) -> None:
    if new not in ALLOWED[old]:
        raise IllegalTransition(old, new)


def slot_effect(old: SurveyStatus, new: SurveyStatus) -> SlotEffect:
    """The move's effect on the contact's slot; raises IllegalTransition for a move not allowed."""
    check(old, new)
    if SLOT[old] is Slot.HOLDS and SLOT[new] is Slot.FREE:
        return SlotEffect.RELEASE
    return SlotEffect.KEEP


def is_open(status: SurveyStatus) -> bool:
    return SLOT[status] is Slot.HOLDS


def close(survey: Survey, status: SurveyStatus, reason: str | None) -> Survey:
    """The survey ended with `status` (terminal) and why: the conversation is done and the survey
    leaves the open-conversation index."""
    if status not in TERMINAL_STATUSES:
        raise ValueError(f"{status.value} does not end a survey")
    check(survey.status, status)
    return replace(survey, status=status, step=Step.DONE, reason=reason, open_until=None, send_at=None,
                   remind_at=None)


def at_window_end(survey: Survey) -> tuple[SurveyStatus, str]:
    """How an open survey ends when its conversation window passes without a last reply."""
    if survey.score is not None:
        return S.ANSWERED, "no_comment"          # a score without a "why?" still counts
    if survey.status is S.SENDING:
        return S.FAILED, "send_not_confirmed"    # the carrier never took the message
    if survey.status is S.SCHEDULED:
        return S.FAILED, "never_released"        # the schedule did not run in all that time
    return S.EXPIRED, "no_reply"


# --- delivery, as the carrier reports it (status callbacks) ------------------------------------

# Callbacks come late, twice or out of order: a status is stored only if it ranks above the stored
# one. The final states share a rank: the first one reported wins.
DELIVERY_RANKS: dict[str, int] = {
    "accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3,
    "delivered": 4, "undelivered": 4, "failed": 4, "canceled": 4, "read": 5,
}
FINAL_DELIVERY_RANK = 4            # delivered, undelivered, failed, canceled: the carrier's last word
# Delivery states that end the survey as failed (and free the slot).
DELIVERY_FAILURES = frozenset({"undelivered", "failed", "canceled"})
# The carrier's error code for "this number opted out with the carrier" (Twilio 21610).
CARRIER_OPT_OUT = "21610"


def delivery_failure_reason(status: str, error_code: str | None) -> str:
    return f"{status}_{error_code or 'unknown'}"


# Carrier errors worth one more try (queue overflow, unknown destination handset: often passing).
RETRY_ONCE = frozenset({"30003", "30008"})
RETRY, TO_EMAIL, FAIL = "retry", "email", "fail"


def after_delivery_failure(survey: Survey, error_code: str | None, email_possible: bool) -> str:
    """What a delivery failure leads to: the same message once more (30003/30008, first time), the
    survey by email (a channel that falls back to email, domain/channels.py, to a customer with a
    usable address), or the end of the survey as failed. An opt-out at the carrier is never worked around."""
    if error_code == CARRIER_OPT_OUT:
        return FAIL
    if error_code in RETRY_ONCE and survey.resends == 0:
        return RETRY
    if channels.EMAIL in channels.falls_back_to(survey.channel) and email_possible:
        return TO_EMAIL
    return FAIL


# --- the send lease ------------------------------------------------------------------------------

# A survey is claimed for a send (`sending`) with a lease, held in its `send_at`: while the lease
# holds, nobody else sends it (a redelivered event, the schedule), since the carrier may have taken
# the message and only the record of it be missing. The carrier's status callback names the survey and
# records the message if the sender could not; once the lease is over, the schedule sends it again.
# The lease must outlast a send (the sending function's timeout) and the carrier's first callback.
SEND_LEASE = timedelta(minutes=2)


def leased(survey: Survey, now: datetime, lease: timedelta = SEND_LEASE) -> Survey:
    """The survey claimed for one send, from `now` until the lease ends: nobody else sends it meanwhile."""
    return replace(survey, status=S.SENDING, message_sid=None, send_at=now + lease)


def lease_held(survey: Survey, now: datetime) -> bool:
    """A send of this survey may be under way (the carrier may have taken it): leave it alone. A
    survey claimed before leases were (no `send_at`) holds none."""
    return survey.status is S.SENDING and survey.send_at is not None and survey.send_at > now


def sent(survey: Survey, message_sid: str) -> Survey:
    """The send recorded: the carrier's message id, off the schedule's send index."""
    return replace(survey, status=S.SENT, message_sid=message_sid, send_at=None)


# --- outcomes, as the reports count them ---------------------------------------------------------

# What each status counts as; a status with its reason where the reason is the point.
_COUNTED_WITH_REASON = frozenset({S.SUPPRESSED, S.FAILED})
_NOT_COUNTED = frozenset({S.SENDING})          # on its way: it becomes sent, scheduled or failed


def outcome_key(survey: Survey) -> str | None:
    """The outcome a survey's current status counts as (`sent`, `scheduled`, `suppressed:cooldown`,
    `failed:undelivered_30006` ...), or None when it is not an outcome yet."""
    if survey.status in _NOT_COUNTED:
        return None
    if survey.status in _COUNTED_WITH_REASON:
        return f"{survey.status.value}:{survey.reason or 'unknown'}"
    return survey.status.value


# A reply proves the invitation arrived, whether or not the carrier (or SES) ever said so: an email
# has no delivery report locally, and an SMS is often answered before its callback comes.
_REPLIED = frozenset({S.ANSWERED, S.LATE, S.UNREADABLE})
_DELIVERY_REACHED = frozenset({"delivered", "read"})
DELIVERED = "delivered"


def reached(survey: Survey) -> bool:
    """The invitation reached the customer: the carrier said delivered, or the customer replied.
    Once true it stays true (delivery states only rank up; a reply's statuses are final), so
    `delivered` is counted once per survey, however the news arrives."""
    return survey.delivery_status in _DELIVERY_REACHED or survey.status in _REPLIED


def counts_as_delivered(report: str, survey: Survey) -> bool:
    """A carrier report (already stored on `survey`, the first of its rank) that counts as
    `delivered`: "delivered" itself, unless the customer has replied already (counted then)."""
    return report == DELIVERED and survey.status not in _REPLIED


def counts_as_new_outcomes(old: Survey | None, new: Survey) -> tuple[str, ...]:
    """The outcomes to count when `old` becomes `new`: the status it reaches (`delivered` aside), and
    `delivered` the first time it has reached the customer (empty: nothing new to count)."""
    keys: list[str] = []
    key = outcome_key(new)
    if key is not None and key != DELIVERED and (old is None or old.status is not new.status):
        keys.append(key)
    if reached(new) and (old is None or not reached(old)):
        keys.append(DELIVERED)
    return tuple(keys)
